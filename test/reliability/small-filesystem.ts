// A small size-limited filesystem for disk-full tests: a tmpfs, or a loop-mounted ext4 image when
// tmpfs cannot be mounted; an explanation instead when neither can (mounting needs root). Never
// faked. Every mount is undone by the file's `after` hook (or by the test, earlier).
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Mounted {
  directory: string;
  kind: string;
  grow(sizeMiB: number): Promise<void>;
  unmount(): Promise<void>;
}

const mounts: Mounted[] = [];

after(async () => {
  // node-process's own after hook kills the children; a mount still busy is detached lazily.
  for (const mounted of mounts) await mounted.unmount();
});

/** Mounts a `size` MiB filesystem on a fresh directory, or explains why it cannot. */
export async function mountSmall(size: number): Promise<Mounted | string> {
  const root = await mkdtemp(join(tmpdir(), "tidelog-diskfull-"));
  const directory = join(root, "mnt");
  await mkdir(directory);
  const cleanupRoot = () => rm(root, { recursive: true, force: true });
  /** The mount just made, undone by `unmount` (or the file's after hook). */
  const mounted = (kind: string, grow: (sizeMiB: number) => Promise<void>): Mounted => {
    const made: Mounted = {
      directory,
      kind,
      grow,
      unmount: async () => {
        await run("umount", [directory]).catch(() =>
          run("umount", ["-l", directory]).catch(() => 0),
        );
        await cleanupRoot();
      },
    };
    mounts.push(made);
    return made;
  };
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${size}m`, "tmpfs", directory]);
    return mounted(`tmpfs ${size} MiB`, async (newSize) => {
      await run("mount", ["-o", `remount,size=${newSize}m`, directory]);
    });
  } catch (tmpfsError) {
    const image = join(root, "disk.img");
    try {
      await run("truncate", ["-s", `${size}M`, image]);
      await run("mkfs.ext4", ["-q", image]);
      await run("mount", ["-o", "loop", image, directory]);
      return mounted(`ext4 loop ${size} MiB`, async (newSize) => {
        await run("truncate", ["-s", `${newSize}M`, image]);
        const device = (await run("findmnt", ["-n", "-o", "SOURCE", directory])).stdout.trim();
        await run("losetup", ["-c", device]);
        await run("resize2fs", [device]);
      });
    } catch (loopError) {
      await cleanupRoot();
      return `cannot mount a small filesystem (tmpfs: ${String(tmpfsError)}; loop ext4: ${String(loopError)})`;
    }
  }
}

/** Free bytes as the node's disk-space guard reads them. */
export { statfsFreeBytes as freeBytes } from "../../src/cluster/disk-space-guard.js";
