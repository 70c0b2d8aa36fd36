// Symbolic operand values of the network operators (Family, Protocol, State) and file types (FileType).
export const ADDRESS_FAMILIES: Readonly<Record<string, number>> = {
  AF_UNSPEC: 0, AF_UNIX: 1, AF_LOCAL: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16, AF_PACKET: 17, AF_VSOCK: 40, AF_XDP: 44,
};
export const IP_PROTOCOLS: Readonly<Record<string, number>> = {
  IPPROTO_IP: 0, IPPROTO_ICMP: 1, IPPROTO_IGMP: 2, IPPROTO_TCP: 6, IPPROTO_UDP: 17, IPPROTO_IPV6: 41, IPPROTO_GRE: 47,
  IPPROTO_ESP: 50, IPPROTO_AH: 51, IPPROTO_ICMPV6: 58, IPPROTO_SCTP: 132, IPPROTO_UDPLITE: 136, IPPROTO_RAW: 255, IPPROTO_MPTCP: 262,
};
export const TCP_STATES: Readonly<Record<string, number>> = {
  TCP_ESTABLISHED: 1, TCP_SYN_SENT: 2, TCP_SYN_RECV: 3, TCP_FIN_WAIT1: 4, TCP_FIN_WAIT2: 5, TCP_TIME_WAIT: 6, TCP_CLOSE: 7,
  TCP_CLOSE_WAIT: 8, TCP_LAST_ACK: 9, TCP_LISTEN: 10, TCP_CLOSING: 11, TCP_NEW_SYN_RECV: 12,
};
/** FileType operands → S_IFMT type nibble (mode >> 12). */
export const FILE_TYPES: Readonly<Record<string, number>> = {
  fifo: 1, chr: 2, dir: 4, blk: 6, reg: 8, lnk: 10, sock: 12,
};
export function lookupSymbol(table: Readonly<Record<string, number>>, name: string): number | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}
