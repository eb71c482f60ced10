/**
 * What an MCP access token carries (the OAuth library stores it encrypted with the grant):
 * the verified user and the MCP client connection it was issued to. Identity for tools comes
 * only from here, never from tool arguments, query strings or headers.
 */
import * as z from "zod";

const PropsSchema = z.object({
  userId: z.string().regex(/^u_[0-9a-f]{40}$/),
  issuer: z.string().min(1),
  subject: z.string().min(1),
  email: z.string().optional(),
  name: z.string().optional(),
  clientId: z.string().min(1),
  clientName: z.string(),
  /** One per OAuth grant: what one MCP client installation was authorized to do. */
  connectionId: z.string().min(1),
  /** When the person authorized this connection (ms); caps its lifetime however often it refreshes. */
  authorizedAt: z.number().int().nonnegative(),
});

export type AuthProps = z.infer<typeof PropsSchema>;

/** Narrow unknown token props; null when they are not ours (never trust their shape blindly). */
export function parseAuthProps(value: unknown): AuthProps | null {
  const parsed = PropsSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
