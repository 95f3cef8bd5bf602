// A map that keeps the `keysMax` keys set most recently: past that, the key set longest ago is
// forgotten. For what peers tell a node about ids of their choosing (peers do not authenticate
// yet), where an unbounded map would grow with every id one of them invents.
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly keysMax: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Sets `key` as the newest; set again to the value it holds, it keeps its place (no churn). */
  set(key: K, value: V): void {
    if (this.entries.has(key) && this.entries.get(key) === value) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.keysMax) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** The entries, the one set longest ago first. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries.entries();
  }

  clear(): void {
    this.entries.clear();
  }
}
