/** A producer the pipeline can slow down (TCP receivers map this to socket.pause()/resume(); pollers defer their next poll). */
export interface Pausable {
  pause(): void;
  resume(): void;
}
