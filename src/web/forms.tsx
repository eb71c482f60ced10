/**
 * The form pieces the person's pages share: the CSRF field every POST form carries, a form that
 * is one button, the row holding a form's submit button, and the Deny / Approve pair whose
 * `decision` field (`deny` or `approve`) the approval and consent routes both read. Markup only,
 * escaped by JSX like every page; the routes check whatever comes back.
 */

/** The hidden field a route compares with the person's own token (src/web/guards.tsx). */
export function CsrfField({ csrf }: { csrf: string }) {
  return <input type="hidden" name="csrf" value={csrf} />;
}

/** A POST form that is a single button, shown inline with the row it acts on. */
export function PostButton({
  action,
  csrf,
  label,
  primary,
}: {
  action: string;
  csrf: string;
  label: string;
  primary?: boolean;
}) {
  return (
    <form class="inline" method="post" action={action}>
      <CsrfField csrf={csrf} />
      <button class={primary ? "primary" : undefined} type="submit">
        {label}
      </button>
    </form>
  );
}

/** The actions row at the foot of a form, with its one submit button (primary unless told). */
export function SubmitRow({ label, primary = true }: { label: string; primary?: boolean }) {
  return (
    <div class="actions">
      <button class={primary ? "primary" : undefined} type="submit">
        {label}
      </button>
    </div>
  );
}

/** The two answers to a request for access: `decision=deny` first, `decision=approve` the primary. */
export function DecisionButtons({ deny, approve }: { deny: string; approve: string }) {
  return (
    <div class="actions">
      <button type="submit" name="decision" value="deny">
        {deny}
      </button>
      <button class="primary" type="submit" name="decision" value="approve">
        {approve}
      </button>
    </div>
  );
}

/** A labelled `<select>` ("For how long") whose options the caller spells and preselects. */
export function ChoiceSelect<T extends string | number>(props: {
  id: string;
  name: string;
  label: string;
  choices: readonly T[];
  selected: T;
  show: (choice: T) => string;
}) {
  return (
    <>
      <p>
        <label for={props.id}>
          <strong>{props.label}</strong>
        </label>
      </p>
      <select id={props.id} name={props.name}>
        {props.choices.map((choice) => (
          <option value={String(choice)} selected={choice === props.selected}>
            {props.show(choice)}
          </option>
        ))}
      </select>
    </>
  );
}

/**
 * The fields of a provider's API-key form: the account host when the provider needs one
 * (`hostExample` is its placeholder), the key (the demo's pre-filled in dev mode), and Save.
 */
export function KeyFields({ id, hostExample, demoKey }: { id: string; hostExample?: string; demoKey?: string }) {
  return (
    <>
      {hostExample ? (
        <>
          <label for={`host-${id}`}>Account host</label>
          <input id={`host-${id}`} type="text" name="account_host" placeholder={hostExample} required />
        </>
      ) : null}
      <label for={`key-${id}`}>API key</label>
      <input id={`key-${id}`} type="password" name="api_key" autocomplete="off" value={demoKey ?? ""} required />
      <SubmitRow label="Save key" />
    </>
  );
}
