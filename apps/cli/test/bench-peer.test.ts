import { describe, expect, it } from 'vitest';
import { median, type PeerProcess, PeerShortlist, peerSettings } from '../src/commands/bench-peer.js';

/** Stand-ins for peer processes: the shortlist only keeps, drops and compares them. */
const fake = (name: string) => ({ name }) as unknown as PeerProcess;
const nameOf = (p: PeerProcess) => (p as unknown as { name: string }).name;

describe("rbm bench's peer protocol", () => {
  it('median is the middle timing (the upper middle of an even count), whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([5])).toBe(5);
  });

  it('searches 1 and every core crossed by default, or the pairs given, and names a part that is not a pair', () => {
    expect(peerSettings(undefined, 2)).toEqual([
      { torch: 1, blas: 1 },
      { torch: 1, blas: 2 },
      { torch: 2, blas: 1 },
      { torch: 2, blas: 2 },
    ]);
    expect(peerSettings(undefined, 1)).toEqual([{ torch: 1, blas: 1 }]);
    expect(peerSettings('1x2, 4x1', 2)).toEqual([
      { torch: 1, blas: 2 },
      { torch: 4, blas: 1 },
    ]);
    expect(() => peerSettings('1x1,2y2', 2)).toThrow(/"2y2" is not TORCHxOPENBLAS/);
    expect(() => peerSettings('0x1', 2)).toThrow(/"0x1"/);
  });

  it('keeps the fastest settings of the search, drops the others as they fall off, and counts the lower median', () => {
    const dropped: string[] = [];
    const list = new PeerShortlist(2, (p) => dropped.push(nameOf(p)));
    list.offer(fake('a'), 3.0);
    list.offer(fake('b'), 2.0);
    expect(dropped).toEqual([]);
    list.offer(fake('c'), 2.5);
    expect(dropped).toEqual(['a']);
    list.offer(fake('d'), 9.0);
    expect(dropped).toEqual(['a', 'd']);
    expect(list.kept.map((k) => nameOf(k.peer))).toEqual(['b', 'c']);
    expect(list.best()).toBeUndefined();
    // The search ranked b first; timed in every round, c trains faster, and c counts.
    list.kept[0]!.times.push(2.4, 2.6, 2.2);
    list.kept[1]!.times.push(2.1, 2.3, 5.0);
    expect(nameOf(list.best()!.peer)).toBe('c');
    list.close();
    expect(dropped).toEqual(['a', 'd', 'b', 'c']);
    expect(list.kept[1]!.times).toEqual([2.1, 2.3, 5.0]);
  });
});
