// The PINs of every SoftHSM token the C++ tests create. Constants, so that the suite-wide log scan
// (tests/testing/log_scan_main.cc) knows them even when no test registered them.
#ifndef SIGNET_TESTS_TESTING_TEST_PINS_H_
#define SIGNET_TESTS_TESTING_TEST_PINS_H_

namespace signet::testing {

inline constexpr char kTestUserPin[] = "signet-test-user-pin-8d1f";
inline constexpr char kTestSoPin[] = "signet-test-so-pin-44ab";

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_TEST_PINS_H_
