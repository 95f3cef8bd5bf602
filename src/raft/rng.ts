// A tiny seeded pseudo-random generator (splitmix32). The core draws its randomized election
// timeouts from an injected Random so that a run is a pure function of its seed and inputs.

import { assert } from "../assert.js";

export interface Random {
  /** A uniformly distributed integer in [0, 2^32). */
  nextUint32(): number;
  /** A uniformly distributed integer in [0, bound); bound is a positive integer ≤ 2^32. */
  nextInt(bound: number): number;
  /** A uniformly distributed number in [0, 1). */
  nextFloat(): number;
}

const UINT32_RANGE = 0x1_0000_0000;

/** splitmix32: one 32-bit word of state, passes the usual statistical batteries, fast. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let mixed = state ^ (state >>> 16);
    mixed = Math.imul(mixed, 0x21f0aaad);
    mixed ^= mixed >>> 15;
    mixed = Math.imul(mixed, 0x735a2d97);
    mixed ^= mixed >>> 15;
    return mixed >>> 0;
  };
  return {
    nextUint32,
    nextInt(bound: number): number {
      assert(Number.isInteger(bound) && bound > 0 && bound <= UINT32_RANGE, `bad bound ${bound}`);
      // Multiply-shift maps [0, 2^32) onto [0, bound) without the modulo's low-bit bias.
      return Math.floor((nextUint32() / UINT32_RANGE) * bound);
    },
    nextFloat(): number {
      return nextUint32() / UINT32_RANGE;
    },
  };
}
