import { readFileSync } from 'node:fs';

/**
 * How busy the machine was with other work while `rbm bench` timed: the CPU time every process used (Linux's
 * /proc/stat) minus what this process and its peers used, over the wall time. The load average alone cannot
 * say it: it trails by a minute (a bench run just before counts), and it counts the peer's own OpenBLAS threads.
 */

/** Clock ticks a second of /proc's counters (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq, steal), or undefined off Linux. */
function machineBusy(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / TICKS;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat, or 0 when it cannot be read. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after its closing parenthesis are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

export class OtherLoad {
  private readonly busy0 = machineBusy();
  private readonly own0 = process.cpuUsage();
  private readonly wall0 = performance.now();
  /** CPU seconds of child processes (the peers), added as each ends. */
  private children = 0;

  addChild(seconds: number): void {
    this.children += seconds;
  }

  /** Cores' worth of CPU that other processes used on average since the start, or undefined off Linux. */
  cores(): number | undefined {
    const busy = machineBusy();
    if (busy === undefined || this.busy0 === undefined) return undefined;
    const own = process.cpuUsage(this.own0);
    const ours = (own.user + own.system) / 1e6 + this.children;
    const wall = (performance.now() - this.wall0) / 1000;
    return Math.max(0, (busy - this.busy0 - ours) / wall);
  }
}
