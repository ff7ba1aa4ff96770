#include "tunnel/gate.h"

#include <gtest/gtest.h>

#include <vector>

namespace tunnel {
namespace {

using boost::asio::ip::make_address;
using Verdict = ConnectionGate::Verdict;

TEST(ConnectionGate, CapsEachClientAndGivesSlotsBack) {
  auto gate_ptr = ConnectionGate::create(100, 2);
  ConnectionGate& gate = *gate_ptr;
  ConnectionGate::Ticket a, b, c;
  EXPECT_EQ(gate.admit(make_address("192.0.2.1"), &a), Verdict::Admitted);
  EXPECT_EQ(gate.admit(make_address("192.0.2.1"), &b), Verdict::Admitted);
  EXPECT_EQ(gate.admit(make_address("192.0.2.1"), &c), Verdict::PerClientFull);
  EXPECT_FALSE(c.held());
  // Another client is not affected.
  EXPECT_EQ(gate.admit(make_address("192.0.2.2"), &c), Verdict::Admitted);
  a.reset();
  ConnectionGate::Ticket d;
  EXPECT_EQ(gate.admit(make_address("192.0.2.1"), &d), Verdict::Admitted);
  EXPECT_EQ(gate.open(), 3u);
}

TEST(ConnectionGate, CapsTheTotalUnlessASlotIsBeingFreed) {
  auto gate_ptr = ConnectionGate::create(2, 10);
  ConnectionGate& gate = *gate_ptr;
  std::vector<ConnectionGate::Ticket> t(4);
  EXPECT_EQ(gate.admit(make_address("10.0.0.1"), &t[0]), Verdict::Admitted);
  EXPECT_EQ(gate.admit(make_address("10.0.0.2"), &t[1]), Verdict::Admitted);
  EXPECT_EQ(gate.admit(make_address("10.0.0.3"), &t[2]), Verdict::TotalFull);
  EXPECT_EQ(gate.admit(make_address("10.0.0.3"), &t[2], true), Verdict::Admitted);
  t.clear();
  EXPECT_EQ(gate.open(), 0u);
}

TEST(ConnectionGate, NeverLetsAClientPastItsCapEvenToMakeRoom) {
  auto gate_ptr = ConnectionGate::create(1, 1);
  ConnectionGate& gate = *gate_ptr;
  ConnectionGate::Ticket a, b;
  EXPECT_EQ(gate.admit(make_address("10.0.0.1"), &a), Verdict::Admitted);
  EXPECT_EQ(gate.admit(make_address("10.0.0.1"), &b, true), Verdict::PerClientFull);
}

TEST(ConnectionGate, IPv6ClientsCountByTheirSlash64) {
  EXPECT_EQ(ConnectionGate::clientKey(make_address("2001:db8:1:2::1")),
            ConnectionGate::clientKey(make_address("2001:db8:1:2:ffff::9")));
  EXPECT_NE(ConnectionGate::clientKey(make_address("2001:db8:1:2::1")),
            ConnectionGate::clientKey(make_address("2001:db8:1:3::1")));
  // A v4-mapped address is its IPv4 client.
  EXPECT_EQ(ConnectionGate::clientKey(make_address("::ffff:192.0.2.7")),
            ConnectionGate::clientKey(make_address("192.0.2.7")));
  EXPECT_NE(ConnectionGate::clientKey(make_address("::c000:207")),
            ConnectionGate::clientKey(make_address("192.0.2.7")));
}

TEST(ConnectionGate, ReportsRefusalsAtMostOnceASecond) {
  auto gate_ptr = ConnectionGate::create(1, 1);
  ConnectionGate& gate = *gate_ptr;
  ConnectionGate::Ticket a, b;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(gate.refusalsToReport(t0));  // nothing refused yet
  (void)gate.admit(make_address("10.0.0.1"), &a);
  (void)gate.admit(make_address("10.0.0.1"), &b);
  (void)gate.admit(make_address("10.0.0.2"), &b);
  auto r = gate.refusalsToReport(t0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->per_client, 1u);
  EXPECT_EQ(r->total, 1u);
  (void)gate.admit(make_address("10.0.0.2"), &b);
  EXPECT_FALSE(gate.refusalsToReport(t0 + std::chrono::milliseconds(500)));
  r = gate.refusalsToReport(t0 + std::chrono::seconds(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->total, 1u);
}

}  // namespace
}  // namespace tunnel
