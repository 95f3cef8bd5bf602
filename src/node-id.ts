// Node ids, as `--id` and Join give them. Peers name each other by id in every Raft message and
// operators type them into Leave and TransferLeadership, so an id is a short plain word.

export const nodeIdRule = "1 to 128 letters, digits, dots, hyphens or underscores";

export function isNodeId(value: string): boolean {
  return /^[A-Za-z0-9_.-]{1,128}$/.test(value);
}
