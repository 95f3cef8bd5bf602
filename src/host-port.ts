// host:port addresses, as flags, Join requests and peers' messages give them. One parser for all
// of them: an address that reaches the peer transport unchecked (a Join with "not an address")
// made the URL constructor throw inside the Raft loop of every leader that tried to reach it.

/**
 * A hostname (letters, digits, dots, hyphens, and underscores as container names have them; a
 * fully qualified one may end with a dot), an IPv4 address, or an IPv6 one in brackets.
 */
const hostPortPattern =
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?\.?):(\d{1,5})$/;

/** The host (brackets removed) and port of `value`, or undefined when it is not host:port. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = hostPortPattern.exec(value);
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  try {
    new URL(`http://${value}`);
  } catch {
    return undefined;
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

/** Whether a peer can be reached at `value`: host:port with a port other than 0. */
export function isPeerAddress(value: string): boolean {
  const parsed = parseHostPort(value);
  return parsed !== undefined && parsed.port > 0;
}
