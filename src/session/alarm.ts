/**
 * The person's object has one Durable Object alarm, and several features with deadlines: grants
 * that expire (GrantStore), standing rules that end (StandingRuleStore) and deliveries owed to the
 * person's devices (NotifyStore). `aim` sets the alarm at the earliest of them, or deletes it when
 * none is left, so no feature's deadline can be skipped by another's re-aiming.
 */
export type Deadline = () => number | null;

export class Alarm {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly deadlines: Deadline[],
  ) {}

  async aim(): Promise<void> {
    const due = this.deadlines.map((deadline) => deadline()).filter((at): at is number => at !== null);
    const next = due.length === 0 ? null : Math.min(...due);
    const current = await this.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.storage.deleteAlarm();
      return;
    }
    if (current !== next) await this.storage.setAlarm(next);
  }
}
