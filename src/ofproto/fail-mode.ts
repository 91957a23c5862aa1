/**
 * Fail mode (OVS's fail-open.c, `ovs-vsctl set-fail-mode`): what the switch does without a
 * controller.
 *
 * - secure (the default): nothing changes; the flow tables keep forwarding as they are, and
 *   failOpen is never true.
 * - standalone: once no controller has been connected for three inactivity-probe intervals
 *   (OVS's trigger_duration: 3 × the probe interval), the switch enters fail-open: `failOpen`
 *   becomes true and `changes$` says so; the datapath then forwards as a learning switch (that
 *   part arrives with the datapath issue). The time counts from the last moment a controller was
 *   connected, or from the start when none ever was. A controller completing HELLO negotiation
 *   leaves fail-open at once (OVS waits until a controller is "admitted", i.e. connected and
 *   talking; a negotiated connection is the nearest equivalent here).
 *
 * The clock is injected; a single unref'd timer fires at the deadline, and `check()` re-evaluates
 * immediately (tests move their clock and call it).
 */

import { BehaviorSubject, type Observable } from 'rxjs';

export type FailMode = 'secure' | 'standalone';

export const FAIL_MODES: readonly FailMode[] = ['secure', 'standalone'];

export interface FailModeOptions {
  readonly mode?: FailMode;
  /** The inactivity probe interval in ms (default 5000); the trigger is three of them. */
  readonly probeInterval?: number;
  /** Monotonic clock in ms (default performance.now). */
  readonly now?: () => number;
  /** false: no timer, only check() re-evaluates (tests). Default true. */
  readonly timer?: boolean;
}

export class FailModeMonitor {
  /** secure or standalone; setMode changes it at run time (ofswitch ctl set-fail-mode). */
  private mode_: FailMode;
  /** No controller for this long (ms) enters fail-open in standalone mode. */
  readonly triggerAfter: number;
  private readonly now: () => number;
  private readonly useTimer: boolean;
  private readonly subject = new BehaviorSubject<boolean>(false);
  /** true while in fail-open; every change (not the initial false) is reported. */
  readonly changes$: Observable<boolean> = this.subject.asObservable();
  private connected = 0;
  /** When the last controller went (or the start); undefined while one is connected. */
  private disconnectedSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: FailModeOptions = {}) {
    this.mode_ = opts.mode ?? 'secure';
    this.triggerAfter = 3 * (opts.probeInterval !== undefined && opts.probeInterval > 0 ? opts.probeInterval : 5000);
    this.now = opts.now ?? (() => performance.now());
    this.useTimer = opts.timer ?? true;
    this.disconnectedSince = this.now();
    this.arm();
  }

  get mode(): FailMode {
    return this.mode_;
  }

  /**
   * Changes the mode. Secure ends a fail-open at once; standalone counts the time without a
   * controller from when the last one went (or from the start), as if it had been set then.
   */
  setMode(mode: FailMode): void {
    if (this.closed || mode === this.mode_) return;
    this.mode_ = mode;
    if (mode === 'secure') {
      this.clearTimer();
      if (this.subject.value) this.subject.next(false);
      return;
    }
    this.check();
  }

  /** True while the switch is in fail-open (standalone mode, no controller for long enough). */
  get failOpen(): boolean {
    return this.subject.value;
  }

  /** Number of negotiated controller connections as this monitor counts them. */
  get controllers(): number {
    return this.connected;
  }

  /** A controller connection completed negotiation. */
  controllerUp(): void {
    this.connected++;
    this.disconnectedSince = undefined;
    this.clearTimer();
    if (this.subject.value) this.subject.next(false);
  }

  /** A negotiated controller connection went away. */
  controllerDown(): void {
    if (this.connected === 0) return;
    this.connected--;
    if (this.connected === 0) {
      this.disconnectedSince = this.now();
      this.arm();
    }
  }

  /** Re-evaluates now: enters fail-open when the time has come. Returns failOpen. */
  check(): boolean {
    if (this.closed || this.mode_ !== 'standalone' || this.subject.value || this.disconnectedSince === undefined) return this.subject.value;
    if (this.now() - this.disconnectedSince >= this.triggerAfter) {
      this.clearTimer();
      this.subject.next(true);
    } else {
      this.arm();
    }
    return this.subject.value;
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
    this.subject.complete();
  }

  private arm(): void {
    if (!this.useTimer || this.closed || this.mode_ !== 'standalone' || this.disconnectedSince === undefined) return;
    this.clearTimer();
    const wait = Math.max(1, this.disconnectedSince + this.triggerAfter - this.now());
    this.timer = setTimeout(() => { this.timer = undefined; this.check(); }, wait);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
