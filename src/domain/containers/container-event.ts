// What a container's history is made of: step changes, log lines and outcomes, each numbered by seq. A leaf module
// of the container vocabulary (see container.ts).

export type EventKind = 'step' | 'log' | 'complete' | 'error' | 'cancelled' | 'attempt';
export type LogStream = 'stdout' | 'stderr' | 'system' | 'task';

export interface NewEvent {
  kind: EventKind;
  step?: string | null;
  percent?: number | null;
  stream?: LogStream | null;
  text?: string | null;
  data?: Record<string, unknown> | null;
  /** When it happened (a log line: when it was read); defaults to now. */
  at?: Date;
}

export interface ContainerEvent {
  seq: number;
  kind: EventKind;
  step: string | null;
  percent: number | null;
  stream: LogStream | null;
  lineNo: number | null;
  text: string | null;
  data: Record<string, unknown> | null;
  createdAt: string;
}
