#include "common/utf8.h"

namespace signet {

size_t Utf8Sequence(const unsigned char* p, size_t n, size_t* bad) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0xC2) {
    *bad = 1;
    return 0;
  } else if (c < 0xE0) {
    need = 1;
  } else if (c < 0xF0) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c < 0xF5) {
    need = 3;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  if (n < 2 || p[1] < lo || p[1] > hi) {
    *bad = 1;
    return 0;
  }
  for (size_t k = 2; k <= need; ++k) {
    if (n <= k || (p[k] & 0xC0) != 0x80) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}

}  // namespace signet
