// Two-person rule for ceremony token PINs: a PIN is split into N Shamir shares over GF(256) (libgfshare),
// any M of which recover it, so no single officer ever holds the whole PIN.
//
// Share text (one line, typed by an officer; hex and letters are accepted in either case):
//   signet-share-v1:<split id, 8 hex>:<M>of<N>:<share number 1..N>:<payload hex>:<check, 8 hex>
// - split id: random per SplitPin call, so shares of different splits are told apart.
// - payload: libgfshare's share bytes, as long as the PIN (a share reveals the PIN's length, nothing else).
// - check: the first 4 bytes of SHA-256 over the lower-cased text before the last ':'. It catches typos; it
//   is not authentication. Nothing in a share is derived from the PIN (no PIN hash), so one share cannot be
//   used to brute-force a short PIN offline.
// Consequence: when exactly M shares of one split are given and one of them was deliberately altered (with
// its check recomputed), the result is a wrong PIN that only the HSM's C_Login rejection reveals. When more
// than M shares are given, CombinePinShares cross-checks them and such an alteration is reported.
#ifndef SIGNET_KEYMGMT_PIN_SHARES_H_
#define SIGNET_KEYMGMT_PIN_SHARES_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret.h"

namespace signet::keymgmt {

// Bound on the number of shares N; the threshold M is 2..N.
inline constexpr int kMaxPinShares = 16;

// Splits `pin` (1..kMaxSecretBytes bytes) into `shares` text shares, numbered 1..N in order, any `threshold`
// of which recover it. Bad arguments are InvalidArgument errors naming the argument.
absl::StatusOr<std::vector<SecretBuffer>> SplitPin(const SecretBuffer& pin, int shares, int threshold);

// Validates `shares` in order and recovers the PIN. Surrounding whitespace (a trailing CR/LF) is ignored.
// Errors name shares by their 1-based position in `shares` and never echo their contents:
//  - InvalidArgument: a share that is not in the format or fails its check ("share 2 is mistyped or
//    corrupted: checksum mismatch"); shares of different splits ("shares 1 and 3 come from different PIN
//    splits"); the same share number twice ("shares 1 and 2 are the same share (number 4)"); shares that
//    disagree with each other (see below).
//  - FailedPrecondition: fewer shares than the threshold ("2 shares given; this PIN needs 3 of 5").
// The PIN is recovered from the first M shares. Each further share is cross-checked: the PIN recovered from
// the first M-1 shares plus that share must be the same, otherwise "share 4 does not agree with shares 1
// to 3" is returned. So with M+1 or more shares any single altered share is detected.
absl::StatusOr<SecretBuffer> CombinePinShares(const std::vector<SecretBuffer>& shares);

// Reads shares for `what` (e.g. "offline token 'signet-offline'") from `in_fd`, one per line, prompting
// "<what>: officer K, enter your PIN share: " on `out_fd` before each. The first share tells the threshold
// M; it asks until it has M shares and reads nothing beyond them. If `in_fd` is a terminal, echo is off
// while reading (restored on every path, discarding unread type-ahead) and a newline is written after each
// entry; otherwise lines are read as they come (scripted demos, tests).
// Errors are CombinePinShares's, reported as soon as the offending line is read (no retry loop), plus:
// a line over the length bound (InvalidArgument, nothing past the bound is read); end of input before M
// shares (FailedPrecondition, "only 1 of 2 shares entered", or "no PIN share entered"); read/write/termios
// failures.
absl::StatusOr<SecretBuffer> PromptPinFromShares(std::string_view what, int in_fd, int out_fd);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_PIN_SHARES_H_
