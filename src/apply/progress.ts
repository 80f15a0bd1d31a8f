/** One thing that happened during a long command; also the `--json` event format. */
export interface ProgressEvent {
  readonly event: 'start' | 'done' | 'fail' | 'info' | 'wait';
  readonly message: string;
  readonly subject?: string;
  readonly [key: string]: unknown;
}
