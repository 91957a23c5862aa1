/*
 * A frame blaster for bench/netdev.ts: sends 60-byte frames on an interface through an AF_PACKET
 * socket with sendmmsg (1024 per call) for a number of milliseconds, then prints how many went
 * out. It stands in for a fast wire: the node sender tops out below what the receiver takes.
 * With FLOWS > 1 (bench/switch-vs-ovs.ts) the frames cycle over that many distinct UDP 5-tuples:
 * frame i (0 <= i < FLOWS) has source 10.(16 + (i >> 16 & 255)).(i >> 8 & 255).(i & 255), UDP
 * source port 1024 + (i & 0x7fff), destination 10.0.0.2, UDP port 9 — the benchmark writes its
 * exact-match rules with the same formula.
 * Usage: blast IFNAME MILLISECONDS [FLOWS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: blast IFNAME MS [FLOWS]\n");
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = (int)if_nametoindex(argv[1])};
  if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    perror("bind");
    return 1;
  }
  /* Ethernet 02:..:bb <- 02:..:aa, IPv4 10.0.0.1 -> 10.0.0.2 UDP 1 -> 2, padded to 60. */
  static const unsigned char frame[60] = {
      2, 0, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0, 0xaa, 0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xce,
      10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0xff, 0xe4};
  long flows = argc > 3 ? atol(argv[3]) : 1;
  if (flows < 1) flows = 1;
  unsigned char *frames = malloc((size_t)flows * sizeof frame);
  if (frames == NULL) return 1;
  for (long i = 0; i < flows; i++) {
    unsigned char *f = frames + (size_t)i * sizeof frame;
    memcpy(f, frame, sizeof frame);
    if (flows == 1) break;
    f[26] = 10;
    f[27] = (unsigned char)(16 + ((i >> 16) & 255));
    f[28] = (unsigned char)((i >> 8) & 255);
    f[29] = (unsigned char)(i & 255);
    unsigned sport = 1024 + (unsigned)(i & 0x7fff);
    f[34] = (unsigned char)(sport >> 8);
    f[35] = (unsigned char)sport;
    f[36] = 0;
    f[37] = 9;
    f[40] = f[41] = 0; /* no UDP checksum */
    f[24] = f[25] = 0; /* the IPv4 header checksum, recomputed */
    unsigned sum = 0;
    for (int k = 14; k < 34; k += 2) sum += (unsigned)(f[k] << 8 | f[k + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    f[24] = (unsigned char)(~sum >> 8);
    f[25] = (unsigned char)~sum;
  }
  enum { N = 1024 };
  static struct mmsghdr msgs[N];
  static struct iovec iov[N];
  for (int i = 0; i < N; i++) {
    iov[i].iov_base = frames;
    iov[i].iov_len = sizeof frame;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double end = now_ms() + atof(argv[2]);
  long sent = 0;
  long next = 0; /* the flow of the next frame to go out */
  while (now_ms() < end) {
    if (flows > 1) {
      for (int i = 0; i < N; i++) iov[i].iov_base = frames + (size_t)((next + i) % flows) * sizeof frame;
    }
    int r = sendmmsg(fd, msgs, N, 0);
    if (r > 0) {
      sent += r;
      next = (next + r) % flows;
    }
  }
  printf("%ld\n", sent);
  return 0;
}
