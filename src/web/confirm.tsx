/**
 * The "are you sure?" step before an action that cannot be taken back (removing a server,
 * disconnecting an account): the first POST of a form without `confirm=yes` is answered with this
 * page and changes nothing; its "Yes" button posts the same form again with `confirm=yes` and the
 * page's CSRF token; Cancel is a plain link back. Markup only; the route checks both fields.
 */
import { CsrfField } from "./forms";
import { Layout } from "./layout";

/** Whether a posted form is the confirming second step. */
export const isConfirmed = (form: FormData) => form.get("confirm") === "yes";

export interface ConfirmPageProps {
  title: string;
  /** What the action does, in plain words, one paragraph each. */
  consequences: string[];
  /** The same-origin path the confirming form posts to (built from checked names only). */
  action: string;
  csrf: string;
  /** The confirming button, e.g. "Yes, remove". */
  confirm: string;
  /** A same-origin path back to where the person was. */
  cancel: string;
}

/** A page that asks once more before acting; nothing has been done when it is shown. */
export function ConfirmPage({ title, consequences, action, csrf, confirm, cancel }: ConfirmPageProps) {
  return (
    <Layout title={title}>
      <div class="card">
        <h1>{title}</h1>
        {consequences.map((text) => (
          <p>{text}</p>
        ))}
        <form method="post" action={action}>
          <CsrfField csrf={csrf} />
          <input type="hidden" name="confirm" value="yes" />
          <div class="actions">
            <a class="button" href={cancel}>
              Cancel
            </a>
            <button class="danger" type="submit">
              {confirm}
            </button>
          </div>
        </form>
      </div>
    </Layout>
  );
}
