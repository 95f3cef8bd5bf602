import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isTidelogError } from "../../src/errors.js";
import { checkedContents, withChecksum } from "../../src/log/checksummed-file.js";

const contents = Buffer.from('{"retentionBytes":1000000,"retentionMs":0,"segmentBytes":0}\n');

describe("checksummed files", () => {
  test("give back their contents, and end with a readable checksum line", () => {
    const file = withChecksum(contents);
    assert.match(file.toString("latin1"), /\ncrc32c [0-9a-f]{8}\n$/);
    assert.ok(checkedContents(file, "f").equals(contents));
    assert.equal(checkedContents(withChecksum(Buffer.alloc(0)), "f").length, 0);
  });

  test("every single flipped bit is caught, or leaves a file that is not the contents", () => {
    const file = withChecksum(contents);
    let caught = 0;
    for (let bit = 0; bit < file.length * 8; bit++) {
      const damaged = Buffer.from(file);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      try {
        const read = checkedContents(damaged, "f");
        // A damaged checksum line is no line: the file is read as an old one, whole, and the
        // line's text is then what its format's parser refuses.
        assert.ok(!read.equals(contents) && read.length === file.length, `bit ${bit}`);
      } catch (error) {
        assert.ok(isTidelogError(error, "data_loss"), `bit ${bit}: ${error}`);
        assert.match((error as Error).message, /^f is damaged: its checksum is/);
        caught++;
      }
    }
    assert.ok(caught >= contents.length * 8, `every flip of the contents is caught (${caught})`);
  });

  test("files written before the checksum line are read as they are", () => {
    assert.ok(checkedContents(contents, "f").equals(contents));
    assert.ok(checkedContents(Buffer.from("x"), "f").equals(Buffer.from("x")));
  });
});
