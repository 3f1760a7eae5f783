/**
 * SIGINT and SIGTERM during training: the first one aborts the run after the batch in flight (the caller
 * then writes a checkpoint and exits 130); a second one exits 130 at once.
 */
export class Interrupts {
  readonly controller = new AbortController();
  received: NodeJS.Signals | undefined;
  /** Called before a second signal exits, to leave the terminal tidy (the progress bar). */
  beforeExit: () => void = () => {};
  private readonly handler = (name: NodeJS.Signals) => {
    this.beforeExit();
    if (this.received) {
      process.stderr.write(`\nrbm: ${name} again: quitting without a checkpoint\n`);
      process.exit(130);
    }
    this.received = name;
    process.stderr.write(
      `\nrbm: ${name}: finishing the batch in flight, then writing a checkpoint (${name} again quits at once)\n`,
    );
    this.controller.abort();
  };
  constructor() {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }
  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
