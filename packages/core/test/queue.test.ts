import { describe, expect, it } from 'vitest';
import { SerialQueue } from '../src/backend/queue.js';

describe("SerialQueue (the asynchronous backends' queue)", () => {
  it('runs synchronous tasks at once and asynchronous ones in order, and says when it is idle', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    q.push(() => log.push('a'));
    expect(log).toEqual(['a']);
    expect(q.idle).toBe(true);
    q.push(() => new Promise<void>((r) => setTimeout(() => r(void log.push('b')), 5)));
    q.push(() => log.push('c'));
    expect(log).toEqual(['a']);
    expect(q.idle).toBe(false);
    await q.settled();
    expect(log).toEqual(['a', 'b', 'c']);
    expect(q.idle).toBe(true);
  });

  it("'sticky': an asynchronous failure poisons every later push and settled", async () => {
    const q = new SerialQueue();
    q.push(() => Promise.reject(new Error('device lost')));
    await expect(q.settled()).rejects.toThrow('device lost');
    await expect(q.settled()).rejects.toThrow('device lost');
    expect(() => q.push(() => undefined)).toThrow('device lost');
  });

  it("'once': the failure is thrown by the next settled only, the tasks after it still run", async () => {
    const q = new SerialQueue('once');
    const log: string[] = [];
    q.push(() => Promise.reject('run failed'));
    q.push(() => log.push('after'));
    await expect(q.settled()).rejects.toThrow('run failed');
    expect(log).toEqual(['after']);
    await expect(q.settled()).resolves.toBeUndefined();
    q.push(() => log.push('again'));
    expect(log).toEqual(['after', 'again']);
  });
});
