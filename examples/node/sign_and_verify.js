#!/usr/bin/env node
// Signs through signetd over mutual TLS and verifies the Content-Signature like Firefox would.
//
// @grpc/grpc-js and @grpc/proto-loader (exact versions in package-lock.json; `npm ci` installs them)
// carry the call: proto/signet/v1/signer.proto is loaded at run time, no generated code. node:crypto does
// every check.
//
// Steps:
//   1. GetSigner, then Sign the input over mTLS (--ca, --cert, --key).
//   2. Fetch the certificate chain from the result's x5u URL over HTTPS (trusting --x5u-ca, else Node's
//      CA store).
//   3. Check the chain with Firefox's rules: three PEM certificates (end entity, intermediate, root), each
//      valid now, each issued and signed by the next, the root self-signed, the intermediate and root CAs,
//      the root's SHA-256 (of its DER) equal to --root-sha256, the end entity marked for codeSigning and
//      named --ee-name (a DNS subjectAltName).
//   4. Verify the ECDSA signature (r||s, base64url: IEEE P1363) with the end entity's key over
//      "Content-Signature:\x00" || input, with SHA-256/384/512 for P-256/384/521, and check that a one-bit
//      change of the input does not verify.
//
// --tamper flips one bit of the input after signing and verifies that instead: the run must then FAIL
// (exit 1), which shows that the verification really looks at the data.
//
// Exit status: 0 verified; 1 a check failed ("FAIL: rule <name>: ..." on stderr); 2 usage;
// 3 node_modules is missing; 4 the call or the x5u fetch failed.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { parseArgs } = require('node:util');

const EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_MISSING = 3, EXIT_UNAVAILABLE = 4;
const TEMPLATE = Buffer.from('Content-Signature:\x00', 'latin1');
const MAX_CHAIN_BYTES = 128 * 1024; // real chains are about 6 KiB; signetd and Firefox bound them too
const RPC_TIMEOUT_MS = 30000;
const FETCH_TIMEOUT_MS = 15000;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;
const ROLES = ['end entity', 'intermediate', 'root'];
const CODE_SIGNING_OID = '1.3.6.1.5.5.7.3.3';
// node's namedCurve -> NIST name, header parameter, half-signature bytes, hash
const CURVES = {
  prime256v1: { name: 'P-256', param: 'p256ecdsa', half: 32, hash: 'sha256' },
  secp384r1: { name: 'P-384', param: 'p384ecdsa', half: 48, hash: 'sha384' },
  secp521r1: { name: 'P-521', param: 'p521ecdsa', half: 66, hash: 'sha512' },
};

class CheckFailed extends Error {
  constructor(rule, message) { super(`rule ${rule}: ${message}`); }
}
class Unavailable extends Error {}

const say = (label, text) => console.log(`${(label + ':').padEnd(12)} ${text}`);
const ok = (text) => console.log(`  ok   ${text}`);
const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function usage(message) {
  console.error(`usage: sign_and_verify.js --target HOST:PORT --ca CA.pem --cert CLIENT.pem --key CLIENT.key
       --signer ID (--input FILE|- | --text TEXT) --root-sha256 HEX --ee-name DNSNAME
       [--x5u-ca CA.pem] [--tamper] [--proto-dir DIR]
error: ${message}`);
  process.exit(EXIT_USAGE);
}

function parsePin(text) {
  let t = text.trim();
  if (t.includes(':')) {
    const pairs = t.split(':');
    if (pairs.length !== 32 || pairs.some((p) => p.length !== 2)) {
      throw new Error('expected 32 colon-separated pairs (AB:CD:...)');
    }
    t = pairs.join('');
  }
  if (!/^[0-9A-Fa-f]{64}$/.test(t)) {
    throw new Error('expected 64 hex digits, optionally as 32 colon-separated pairs (AB:CD:...)');
  }
  return Buffer.from(t, 'hex');
}

const colonHex = (buf) => [...buf].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');

function parseCommandLine() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: 'string' }, ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
        signer: { type: 'string' }, input: { type: 'string' }, text: { type: 'string' },
        'root-sha256': { type: 'string' }, 'ee-name': { type: 'string' }, 'x5u-ca': { type: 'string' },
        tamper: { type: 'boolean', default: false },
        'proto-dir': { type: 'string', default: path.join(__dirname, '..', '..', 'proto') },
      },
      strict: true,
    }));
  } catch (e) {
    usage(e.message);
  }
  for (const name of ['target', 'ca', 'cert', 'key', 'signer', 'root-sha256', 'ee-name']) {
    if (values[name] === undefined) usage(`--${name} is required`);
  }
  if ((values.input === undefined) === (values.text === undefined)) usage('give exactly one of --input and --text');
  if (!/^\S+:[0-9]+$/.test(values.target)) usage('--target must be host:port');
  try {
    values.pin = parsePin(values['root-sha256']);
  } catch (e) {
    usage(`--root-sha256: ${e.message}`);
  }
  return values;
}

function loadGrpc() {
  try {
    return { grpc: require('@grpc/grpc-js'), protoLoader: require('@grpc/proto-loader') };
  } catch (e) {
    console.error(`MISSING DEPENDENCY: ${e.message.split('\n')[0]}; install the locked packages with ` +
                  'npm ci --prefix examples/node --no-audit --no-fund --ignore-scripts');
    process.exit(EXIT_MISSING);
  }
}

// ---- the call ------------------------------------------------------------------------------------------

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + RPC_TIMEOUT_MS }, (err, resp) => (err ? reject(err) : resolve(resp)));
  });
}

// The file's bytes; a file that cannot be read is a usage error naming the argument.
function readFile(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    console.error(`FAIL: cannot read ${what} ${file}: ${e.code ?? e.message}`);
    process.exit(EXIT_USAGE);
  }
}

async function signOverMtls(opts, files, data) {
  const { grpc, protoLoader } = loadGrpc();
  const protoDir = path.resolve(opts['proto-dir']);
  const definition = protoLoader.loadSync('signet/v1/signer.proto', {
    includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  });
  const { Signer } = grpc.loadPackageDefinition(definition).signet.v1;
  const creds = grpc.credentials.createSsl(files.ca, files.key, files.cert);
  const client = new Signer(opts.target, creds);
  try {
    const info = await call(client, 'GetSigner', { signer_id: opts.signer });
    say('signer', `${info.signer_id} (${info.type}, ${info.curve}, ${info.signature_param}), key id ${info.key_id}`);
    const resp = await call(client, 'Sign', {
      signer_id: opts.signer, inputs: [data], include_public_key: true, request_id: 'example-node',
    });
    return resp;
  } catch (err) {
    if (err.code === undefined) throw err;
    throw new Unavailable(`call to ${opts.target}: ${grpc.status[err.code] ?? err.code}: ${err.details}`);
  } finally {
    client.close();
  }
}

// ---- the x5u chain -------------------------------------------------------------------------------------

function fetchChain(url, x5uCaPem) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw new CheckFailed('x5u', `${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'https:') {
    throw new CheckFailed('x5u', `${JSON.stringify(url)} is not an https:// URL (Firefox fetches chains only over HTTPS)`);
  }
  const options = { timeout: FETCH_TIMEOUT_MS };
  if (x5uCaPem !== undefined) options.ca = x5uCaPem;
  return new Promise((resolve, reject) => {
    const req = https.get(url, options, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Unavailable(`fetching the chain from ${url}: HTTP ${res.statusCode}`));
        return;
      }
      const chunks = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_CHAIN_BYTES) {
          req.destroy();
          reject(new CheckFailed('size', `the chain at ${url} is larger than ${MAX_CHAIN_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (e) => reject(new Unavailable(`fetching the chain from ${url}: ${e.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${FETCH_TIMEOUT_MS} ms`)));
    req.on('error', (e) => reject(new Unavailable(`fetching the chain from ${url}: ${e.message}`)));
  });
}

function parseChain(pemBuf) {
  const pem = pemBuf.toString('latin1');
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (pem.split('-----BEGIN').length - 1 !== blocks.length || pem.replace(PEM_BLOCK, '').trim() !== '') {
    throw new CheckFailed('format', 'the chain must hold only PEM CERTIFICATE blocks');
  }
  if (blocks.length !== 3) {
    throw new CheckFailed('count', `the chain holds ${blocks.length} certificates; it must hold 3 (end entity, intermediate, root)`);
  }
  try {
    return blocks.map((b) => new crypto.X509Certificate(b));
  } catch (e) {
    throw new CheckFailed('format', `a certificate does not parse: ${e.message}`);
  }
}

// X509Certificate names are one RDN a line, root first; print them like RFC 4514 (and Python) does.
const oneLine = (name) => name.trim().split('\n').reverse().join(',');
// validFromDate/validToDate arrived in Node 22.10; validFrom/validTo are OpenSSL's "Mon DD HH:MM:SS YYYY GMT".
const notBefore = (c) => c.validFromDate ?? new Date(c.validFrom);
const notAfter = (c) => c.validToDate ?? new Date(c.validTo);
// Node 23 renamed keyUsage (which always held the extended key usage OIDs) to extKeyUsage.
const extKeyUsage = (c) => c.extKeyUsage ?? c.keyUsage ?? [];
const dnsNames = (c) => (c.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));

function verifyChain(certs, pin, eeName, now) {
  certs.forEach((cert, i) => {
    if (Number.isNaN(notBefore(cert).getTime()) || Number.isNaN(notAfter(cert).getTime())) {
      throw new CheckFailed('validity', `the ${ROLES[i]} certificate's notBefore or notAfter cannot be read`);
    }
    if (now < notBefore(cert)) {
      throw new CheckFailed('validity', `the ${ROLES[i]} certificate is not valid until ${iso(notBefore(cert))}`);
    }
    if (now > notAfter(cert)) { // notAfter is inclusive (RFC 5280)
      throw new CheckFailed('validity', `the ${ROLES[i]} certificate expired at ${iso(notAfter(cert))}`);
    }
  });
  ok(`validity: all three certificates valid now (${iso(now)}); end entity until ${iso(notAfter(certs[0]))}`);

  for (let i = 0; i < 2; i++) {
    if (!certs[i].checkIssued(certs[i + 1])) {
      throw new CheckFailed('chain-order', `the ${ROLES[i]} was issued by [${oneLine(certs[i].issuer)}], but the next ` +
                                           `certificate is [${oneLine(certs[i + 1].subject)}]`);
    }
    if (!certs[i].verify(certs[i + 1].publicKey)) {
      throw new CheckFailed('issuer-signature', `the ${ROLES[i]}'s signature does not verify with the ${ROLES[i + 1]}'s public key`);
    }
    ok(`issuer-signature: ${ROLES[i]} [${oneLine(certs[i].subject)}] signed by the ${ROLES[i + 1]}`);
  }
  const root = certs[2];
  if (!root.checkIssued(root) || !root.verify(root.publicKey)) {
    throw new CheckFailed('root-self-signed', `the root [${oneLine(root.subject)}] is not self-signed`);
  }
  ok(`root-self-signed: [${oneLine(root.subject)}]`);

  if (!certs[1].ca) throw new CheckFailed('ca', 'the intermediate is not a CA (basicConstraints CA:TRUE)');
  if (!root.ca) throw new CheckFailed('ca', 'the root is not a CA (basicConstraints CA:TRUE)');
  if (certs[0].ca) throw new CheckFailed('ca', 'the end entity is a CA certificate');
  ok('ca: intermediate and root are CAs, the end entity is not');

  // fingerprint256 is the SHA-256 of the DER, as "AB:CD:..."; compare bytes.
  const rootSha256 = crypto.createHash('sha256').update(root.raw).digest();
  if (!rootSha256.equals(pin)) {
    throw new CheckFailed('root-pin', `the root's SHA-256 is ${root.fingerprint256} but the pinned value is ${colonHex(pin)}`);
  }
  ok(`root-pin: root SHA-256 ${root.fingerprint256}`);

  if (!extKeyUsage(certs[0]).includes(CODE_SIGNING_OID)) {
    throw new CheckFailed('code-signing-eku', "the end entity's extendedKeyUsage does not include codeSigning");
  }
  ok('code-signing-eku: the end entity is for codeSigning');

  const dns = dnsNames(certs[0]);
  if (!dns.some((d) => d.toLowerCase() === eeName.toLowerCase())) {
    throw new CheckFailed('ee-name', `the end entity's DNS names are ${JSON.stringify(dns)}; none is ${JSON.stringify(eeName)}`);
  }
  ok(`ee-name: ${eeName}`);

  const key = certs[0].publicKey;
  const curve = key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails.namedCurve] : undefined;
  if (curve === undefined) throw new CheckFailed('ee-key', "the end entity's key is not ECDSA on P-256, P-384 or P-521");
  return { key, curve };
}

const signatureVerifies = (key, hash, sig, data) =>
  crypto.verify(hash, Buffer.concat([TEMPLATE, data]), { key, dsaEncoding: 'ieee-p1363' }, sig);

function verifySignature({ key, curve }, result, data) {
  const wantHeader = `x5u=${result.x5u};${curve.param}=${result.signature}`;
  if (result.content_signature !== wantHeader) {
    throw new CheckFailed('signature', `the header ${JSON.stringify(result.content_signature)} does not name the end ` +
                                       `entity's curve (${curve.param}) with this signature and x5u`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(result.signature)) throw new CheckFailed('signature', 'the signature is not unpadded base64url');
  const sig = Buffer.from(result.signature, 'base64url');
  if (sig.length !== 2 * curve.half) {
    throw new CheckFailed('signature', `the signature is ${sig.length} bytes; ${curve.param} needs r||s of 2x${curve.half}`);
  }
  if (!signatureVerifies(key, curve.hash, sig, data)) {
    throw new CheckFailed('signature', `the signature does not verify over 'Content-Signature:\\x00' || the ` +
                                       `${data.length}-byte input with the end entity's key (${curve.param}, SHA-${curve.hash.slice(3)})`);
  }
  ok(`signature: ECDSA ${curve.name} with SHA-${curve.hash.slice(3)} over 'Content-Signature:\\x00' || input`);
  return sig;
}

// ---- main ----------------------------------------------------------------------------------------------

async function main() {
  const opts = parseCommandLine();
  const files = {
    ca: readFile(opts.ca, '--ca'), key: readFile(opts.key, '--key'), cert: readFile(opts.cert, '--cert'),
    x5uCa: opts['x5u-ca'] === undefined ? undefined : readFile(opts['x5u-ca'], '--x5u-ca'),
  };
  let data, source;
  if (opts.input === '-') {
    data = fs.readFileSync(0);
    source = 'stdin';
  } else if (opts.input !== undefined) {
    data = readFile(opts.input, '--input');
    source = opts.input;
  } else {
    data = Buffer.from(opts.text, 'utf8');
    source = '--text';
  }
  if (data.length === 0) {
    console.error('FAIL: the input is empty (signetd signs 1 byte or more)');
    return EXIT_USAGE;
  }

  try {
    const resp = await signOverMtls(opts, files, data);
    const item = resp.items.length === 1 ? resp.items[0] : undefined;
    if (item === undefined || item.outcome !== 'result') {
      const detail = item ? `code ${item.error.code}: ${item.error.message}` : `${resp.items.length} items`;
      throw new Unavailable(`Sign returned no signature (${detail})`);
    }
    const result = item.result;
    say('signed', `${source} (${data.length} bytes), request id ${resp.request_id}, key id ${result.key_id}`);
    say('header', `Content-Signature: ${result.content_signature}`);
    if (!result.x5u) {
      throw new CheckFailed('x5u', `signer ${JSON.stringify(opts.signer)} returned no x5u URL; this example verifies ` +
                                   'contentsignaturepki signers, whose chains are published');
    }
    if (opts.tamper) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0x01;
      say('tamper', `flipped one bit of byte ${data.length >> 1}: the verification below must FAIL`);
    }

    say('x5u', result.x5u);
    const pem = await fetchChain(result.x5u, files.x5uCa);
    const certs = parseChain(pem);
    say('chain', `${pem.length} bytes, 3 certificates (end entity, intermediate, root)`);
    const ee = verifyChain(certs, opts.pin, opts['ee-name'], new Date());
    const spki = ee.key.export({ type: 'spki', format: 'der' });
    if (!spki.equals(result.public_key)) { // include_public_key was set: Sign returns the SPKI of the key that signed
      throw new CheckFailed('ee-key', "the key that signed (Sign's public_key) is not the end entity's key");
    }
    ok("ee-key: the key that signed is the end entity's");
    const sig = verifySignature(ee, result, data);
    const flipped = Buffer.from(data);
    flipped[0] ^= 0x80;
    if (signatureVerifies(ee.key, ee.curve.hash, sig, flipped) || signatureVerifies(ee.key, ee.curve.hash, sig, data.subarray(1))) {
      throw new CheckFailed('signature', 'the signature ALSO verifies over modified input');
    }
    ok('tamper: the same signature does not verify over a one-bit change or a shorter input');
    console.log(`OK: Content-Signature verifies (${ee.curve.name}) with a chain from x5u ` +
                'under the pinned root');
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CheckFailed) {
      console.error(`FAIL: ${e.message}`);
      return EXIT_FAILED;
    }
    if (e instanceof Unavailable) {
      console.error(`FAIL: ${e.message}`);
      return EXIT_UNAVAILABLE;
    }
    throw e;
  }
}

main().then((code) => { process.exitCode = code; }, (e) => {
  console.error(`FAIL: ${e.stack ?? e}`);
  process.exitCode = EXIT_FAILED;
});
