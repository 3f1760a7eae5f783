/**
 * Ids for the contents of tensors declared constant (Backend.constant): a unit bakes such tensors in as
 * initializers, and its structure key names them by these ids, so equal constants share a unit (a scorer made
 * anew per call compiles once).
 */
export class ContentIds {
  private readonly seen = new Map<string, Array<{ data: Float32Array; id: number }>>();
  private next = 0;

  /** @param limit how many distinct contents are kept before they are all forgotten */
  constructor(private readonly limit = 256) {}

  /** The id of `data`'s contents (shape `rows` x `cols`): equal contents, the same id. */
  idOf(data: Float32Array, rows: number, cols: number): number {
    let h = 2166136261;
    for (let i = 0; i < data.length; i += Math.max(1, data.length >> 10)) h = Math.imul(h ^ (data[i]! * 1e6), 16777619);
    const key = `${rows}x${cols}:${h >>> 0}`;
    // A long-lived backend forgets old contents now and then: an equal constant made later gets a new id
    // (and its unit compiles again), and the copies kept stay bounded.
    if (this.seen.size >= this.limit && !this.seen.has(key)) this.seen.clear();
    const same = this.seen.get(key) ?? [];
    this.seen.set(key, same);
    const found = same.find((c) => c.data.length === data.length && c.data.every((x, i) => Object.is(x, data[i])));
    if (found) return found.id;
    same.push({ data: data.slice(), id: this.next });
    return this.next++;
  }
}
