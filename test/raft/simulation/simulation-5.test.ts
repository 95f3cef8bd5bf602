import { test } from "node:test";
import { runSeeds } from "./run-seeds.js";

test("simulation: 5-node clusters under faults keep Raft's guarantees", () => runSeeds(5));
