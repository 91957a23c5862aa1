/*
 * The ceiling for bench/switch-vs-ovs.ts: a plain C forwarder that moves every frame arriving on
 * one interface out of another, with nothing in between (no parsing, no lookup). Whatever a
 * switch does per frame costs on top of this, so the rate it reaches on a machine is the most a
 * userspace switch on AF_PACKET can expect there.
 *
 * Input is either an AF_PACKET receive ring (TPACKET_V2, the default: the kernel copies frames
 * into shared memory and we poll) or recvmmsg on a plain AF_PACKET socket ("mmsg"); output is
 * sendmmsg in batches of up to 256 with the qdisc bypassed. It runs until SIGTERM or SIGINT and
 * then prints how many frames it sent.
 *
 * Usage: fwd IN_IFNAME OUT_IFNAME [ring|mmsg]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

enum { BATCH = 256, FRAME_SIZE = 2048, FRAMES = 4096, SNAP = 1600 };

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* Protocol 0 makes a send-only socket: the kernel queues nothing on it. */
static int bound_socket(const char *ifname, int protocol) {
  int fd = socket(AF_PACKET, SOCK_RAW, protocol);
  if (fd < 0) { perror("socket"); exit(1); }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = (unsigned short)protocol, .sll_ifindex = (int)if_nametoindex(ifname)};
  if (sll.sll_ifindex == 0) { fprintf(stderr, "fwd: no interface %s\n", ifname); exit(1); }
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); exit(1); }
  return fd;
}

static long sent_total;

/* Sends n frames; retries the rest of a batch the kernel took only part of (a full veth queue). */
static void send_all(int out, struct mmsghdr *msgs, int n) {
  int off = 0, tries = 0;
  while (off < n && tries < 8) {
    int r = sendmmsg(out, msgs + off, (unsigned)(n - off), 0);
    if (r > 0) { off += r; sent_total += r; }
    else if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) break;
    tries++;
  }
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: fwd IN OUT [ring|mmsg]\n"); return 2; }
  int use_ring = argc < 4 || strcmp(argv[3], "mmsg") != 0;
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int in = bound_socket(argv[1], htons(ETH_P_ALL));
  int out = bound_socket(argv[2], 0);
  int one = 1;
  setsockopt(out, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  setsockopt(in, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);

  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  static unsigned char bufs[BATCH][SNAP];
  for (int i = 0; i < BATCH; i++) { msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1; }
  struct pollfd pfd = {.fd = in, .events = POLLIN};

  if (use_ring) {
    int v = TPACKET_V2;
    if (setsockopt(in, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) { perror("PACKET_VERSION"); return 1; }
    struct tpacket_req req = {.tp_block_size = FRAME_SIZE * 64, .tp_block_nr = FRAMES / 64, .tp_frame_size = FRAME_SIZE, .tp_frame_nr = FRAMES};
    if (setsockopt(in, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return 1; }
    unsigned char *ring = mmap(NULL, (size_t)FRAME_SIZE * FRAMES, PROT_READ | PROT_WRITE, MAP_SHARED, in, 0);
    if (ring == MAP_FAILED) { perror("mmap"); return 1; }
    unsigned head = 0;
    while (!stop) {
      struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)head * FRAME_SIZE);
      if (!(h->tp_status & TP_STATUS_USER)) { poll(&pfd, 1, 100); continue; }
      /* Point the send batch straight at the ring slots, send, then hand the slots back. */
      unsigned first = head;
      int n = 0;
      while (n < BATCH) {
        h = (struct tpacket2_hdr *)(ring + (size_t)head * FRAME_SIZE);
        if (!(h->tp_status & TP_STATUS_USER)) break;
        iov[n].iov_base = (unsigned char *)h + h->tp_mac;
        iov[n].iov_len = h->tp_snaplen;
        n++;
        head = (head + 1) % FRAMES;
      }
      send_all(out, msgs, n);
      for (int i = 0; i < n; i++) {
        h = (struct tpacket2_hdr *)(ring + (size_t)((first + (unsigned)i) % FRAMES) * FRAME_SIZE);
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      }
    }
  } else {
    static struct mmsghdr rmsgs[BATCH];
    static struct iovec riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
      riov[i].iov_base = bufs[i];
      riov[i].iov_len = SNAP;
      rmsgs[i].msg_hdr.msg_iov = &riov[i];
      rmsgs[i].msg_hdr.msg_iovlen = 1;
      iov[i].iov_base = bufs[i];
    }
    while (!stop) {
      int n = recvmmsg(in, rmsgs, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0) { poll(&pfd, 1, 100); continue; }
      for (int i = 0; i < n; i++) iov[i].iov_len = rmsgs[i].msg_len;
      send_all(out, msgs, n);
    }
  }
  printf("%ld\n", sent_total);
  return 0;
}
