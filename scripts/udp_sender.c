/* The sender of scripts/measure_real_switches.py: 60-byte UDP frames (64 on the wire) on an
 * AF_PACKET socket, batched with sendmmsg(2), as fast as the device takes them.
 *
 * Why not trafgen: on Linux 6.15 and later a veth whose peer runs NAPI pushes back on a full
 * ring (NETDEV_TX_BUSY); trafgen 0.6.8 treats the resulting EAGAIN from its TX_RING flush as
 * fatal and dies within milliseconds. This sender goes through the device's qdisc (the script
 * gives the veth a pfifo), so back-pressure stops the queue and the socket blocks or returns
 * ENOBUFS/EAGAIN, which it retries.
 *
 * Usage: udp_sender IFNAME FLOWS SECONDS
 * Frames: dst 02:00:00:00:00:99 (nobody owns it), src 02:00:00:00:00:01, IPv4 10.0.0.1 ->
 * 10.0.0.2 (valid checksum), UDP source port 1024 + flow, destination port 5001, 18 zero
 * bytes of payload; the flows are sent round-robin. Prints the frames sent and the retries. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FRAME 60
#define BATCH 64

static uint16_t csum(const uint8_t *p, int n) {
    uint32_t s = 0;
    for (int i = 0; i < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void frame(uint8_t *f, int flow) {
    static const uint8_t dst[6] = {2, 0, 0, 0, 0, 0x99}, src[6] = {2, 0, 0, 0, 0, 1};
    memset(f, 0, FRAME);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 46; /* total length: 20 + 8 + 18 */
    ip[8] = 64;
    ip[9] = 17;
    ip[12] = 10, ip[15] = 1;
    ip[16] = 10, ip[19] = 2;
    uint16_t c = csum(ip, 20);
    ip[10] = c >> 8, ip[11] = c & 0xff;
    uint8_t *udp = ip + 20;
    int sport = 1024 + flow;
    udp[0] = sport >> 8, udp[1] = sport & 0xff;
    udp[2] = 5001 >> 8, udp[3] = 5001 & 0xff;
    udp[5] = 26; /* length: 8 + 18; checksum 0 (none) */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: udp_sender IFNAME FLOWS SECONDS\n");
        return 2;
    }
    int flows = atoi(argv[2]);
    double seconds = atof(argv[3]);
    unsigned ifindex = if_nametoindex(argv[1]);
    if (flows < 1 || flows > 60000 || seconds <= 0 || ifindex == 0) {
        fprintf(stderr, "udp_sender: bad interface, flow count or duration\n");
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) {
        perror("udp_sender: socket");
        return 1;
    }
    struct sockaddr_ll addr = {0};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = (int)ifindex;
    addr.sll_protocol = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("udp_sender: bind");
        return 1;
    }
    uint8_t *frames = malloc((size_t)flows * FRAME);
    if (!frames) return 1;
    for (int i = 0; i < flows; i++) frame(frames + (size_t)i * FRAME, i);
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long sent = 0, retries = 0;
    int next = 0;
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = frames + (size_t)((next + i) % flows) * FRAME;
            iov[i].iov_len = FRAME;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
                retries++;
            } else {
                perror("udp_sender: sendmmsg");
                return 1;
            }
        } else {
            sent += (unsigned long long)n;
            next = (next + n) % flows;
        }
        if ((sent & 0xfff) < BATCH || n < 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
                break;
        }
    }
    printf("%llu %llu\n", sent, retries);
    return 0;
}
