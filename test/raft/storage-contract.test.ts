import { MemoryStorage } from "../../src/raft/index.js";
import { storageContract } from "./storage-contract.js";

storageContract("MemoryStorage", ({ snapshot, entries, hardState }) => {
  const storage = new MemoryStorage(snapshot);
  storage.append(entries);
  storage.setHardState(hardState);
  return storage;
});
