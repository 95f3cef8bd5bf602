// The commands the golden files speak, mapped onto InteractionEnv. Node ids are "1", "2", ….
//
//   add-nodes <n> [voters=(..)] [learners=(..)] [prevote=false] [checkquorum=false]
//             [election=10] [heartbeat=1] [inflight=N] [inflight-bytes=N] [max-msg-size=N]
//   campaign <id> · propose <id> <data> · propose-conf-change <id> <add-voter|add-learner|remove> <node>
//   tick <id> [n] · tick-heartbeat <id> · tick-election <id>
//   process-ready <id...> · deliver-msgs [<id...>] [drop=(..)] · stabilize [<id...>]
//   partition <id...> · cut from=<id> to=<id> · heal
//   snapshot <id> · compact <id> <index> · restart <id> · crash-before-sync <id>
//   transfer-leadership from=<id> to=<id> · report-unreachable <id> <peer>
//   report-snapshot <id> <peer> ok|failed · status <id> · raft-log <id> · raft-state

import type { ConfChangeType } from "../../src/raft/index.js";
import type { Argument, TestCase } from "./datadriven.js";
import type { InteractionEnv, NodeOptions } from "./interaction-env.js";

function positional(args: readonly Argument[]): string[] {
  return args.filter((arg) => arg.values.length === 0).map((arg) => arg.key);
}

function named(args: readonly Argument[], key: string): string[] | undefined {
  return args.find((arg) => arg.key === key)?.values;
}

function namedOne(args: readonly Argument[], key: string): string {
  const value = named(args, key)?.[0];
  if (value === undefined) throw new Error(`missing ${key}=`);
  return value;
}

function namedNumber(args: readonly Argument[], key: string): number | undefined {
  const value = named(args, key)?.[0];
  return value === undefined ? undefined : Number(value);
}

function namedBool(args: readonly Argument[], key: string): boolean | undefined {
  const value = named(args, key)?.[0];
  return value === undefined ? undefined : value === "true";
}

const CONF_CHANGE_TYPES: Record<string, ConfChangeType> = {
  "add-voter": "addVoter",
  "add-learner": "addLearner",
  remove: "removeNode",
};

export function runCommand(env: InteractionEnv, testCase: TestCase): string {
  const { args } = testCase;
  const ids = positional(args);
  switch (testCase.command) {
    case "add-nodes": {
      const options: NodeOptions = {};
      const voters = named(args, "voters");
      const learners = named(args, "learners");
      if (voters !== undefined) options.voters = voters;
      if (learners !== undefined) options.learners = learners;
      const preVote = namedBool(args, "prevote");
      const checkQuorum = namedBool(args, "checkquorum");
      const election = namedNumber(args, "election");
      const heartbeat = namedNumber(args, "heartbeat");
      const inflight = namedNumber(args, "inflight");
      const inflightBytes = namedNumber(args, "inflight-bytes");
      const maxMessageSize = namedNumber(args, "max-msg-size");
      if (preVote !== undefined) options.preVote = preVote;
      if (checkQuorum !== undefined) options.checkQuorum = checkQuorum;
      if (election !== undefined) options.electionTicks = election;
      if (heartbeat !== undefined) options.heartbeatTicks = heartbeat;
      if (inflight !== undefined) options.maxInflightMessages = inflight;
      if (inflightBytes !== undefined) options.maxInflightBytes = inflightBytes;
      if (maxMessageSize !== undefined) options.maxSizePerMessageBytes = maxMessageSize;
      const before = env.nodes.size;
      env.addNodes(Number(ids[0]), options);
      for (const id of env.ids().slice(before)) env.log(env.statusText(id));
      break;
    }
    case "campaign":
      env.node(ids[0]!).raw.campaign();
      env.log(env.statusText(ids[0]!).split("\n")[0]!);
      break;
    case "propose":
      env.log(env.propose(ids[0]!, ids[1]!));
      break;
    case "propose-conf-change": {
      const type = CONF_CHANGE_TYPES[ids[1]!];
      if (type === undefined) throw new Error(`unknown conf change ${ids[1]}`);
      env.log(env.proposeConfChange(ids[0]!, { type, nodeId: ids[2]! }));
      break;
    }
    case "tick":
      env.tick(ids[0]!, Number(ids[1] ?? 1));
      env.log(env.statusText(ids[0]!).split("\n")[0]!);
      break;
    case "tick-heartbeat":
      env.tick(ids[0]!, env.node(ids[0]!).options.heartbeatTicks ?? 1);
      env.log(env.statusText(ids[0]!).split("\n")[0]!);
      break;
    case "tick-election":
      env.tickElection(ids[0]!);
      env.log(env.statusText(ids[0]!).split("\n")[0]!);
      break;
    case "process-ready":
      for (const id of ids) {
        if (!env.processReady(id)) env.log(`> ${id} no Ready`);
      }
      break;
    case "deliver-msgs":
      env.deliver(ids, named(args, "drop") ?? []);
      break;
    case "stabilize":
      env.stabilize(ids);
      break;
    case "partition":
      env.partition(ids);
      break;
    case "cut":
      env.cut.add(`${namedOne(args, "from")}->${namedOne(args, "to")}`);
      break;
    case "heal":
      env.heal();
      break;
    case "snapshot":
      env.log(env.snapshot(ids[0]!));
      break;
    case "compact":
      env.log(env.compact(ids[0]!, Number(ids[1])));
      break;
    case "restart":
      env.restart(ids[0]!);
      break;
    case "crash-before-sync":
      env.crashBeforeSync(ids[0]!);
      break;
    case "transfer-leadership": {
      const from = namedOne(args, "from");
      const ok = env.node(from).raw.transferLeadership(namedOne(args, "to"));
      env.log(ok ? "transferring" : "refused");
      break;
    }
    case "report-unreachable":
      env.node(ids[0]!).raw.reportUnreachable(ids[1]!);
      break;
    case "report-snapshot":
      env.node(ids[0]!).raw.snapshotStatus(ids[1]!, ids[2] === "failed" ? "failed" : "ok");
      break;
    case "status":
      env.log(env.statusText(ids[0]!));
      break;
    case "raft-log":
      env.log(env.raftLogText(ids[0]!));
      break;
    case "raft-state":
      for (const id of env.ids()) env.log(env.statusText(id).split("\n")[0]!);
      break;
    default:
      throw new Error(`line ${testCase.line}: unknown command ${testCase.command}`);
  }
  return env.takeOutput();
}
