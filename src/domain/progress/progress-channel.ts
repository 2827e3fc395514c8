import type { ContainerEvent } from '../containers/container-event.ts';

/** The Redis pub/sub channel that rings when a container's events were committed. */
export const progressChannel = (containerId: string) => `container:${containerId}:events`;

/** What is published after COMMIT. The events are already in Postgres; this only saves viewers a query. */
export interface ProgressMessage {
  containerId: string;
  fromSeq: number;
  toSeq: number;
  events: ContainerEvent[];
}

export type Publish = (channel: string, message: string) => Promise<unknown>;
