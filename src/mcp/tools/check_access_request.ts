/**
 * `check_access_request`: where a request stands. With `wait_seconds` it holds until the person
 * decides or the wait ends; the Durable Object wakes it the moment a decision lands.
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { CheckedGrantView, checkedView } from "../grant-view";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(
  z.object({
    request_id: z.string().min(1).max(64),
    wait_seconds: z.number().int().min(0).max(50).optional().describe("Hold up to this long for the decision"),
  }),
);

const Output = jsonSchemaOnce(CheckedGrantView);

/** Register the tool for one request's verified context. */
export function registerCheckAccessRequest(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "check_access_request",
    {
      title: "Check an access request",
      description:
        "Get the status of a request from request_elevated_access: pending, approved (with providers, level and expiry), denied, expired. A one-call request names its call fully: method, URL, the SHA-256 prefix and size of its exact body (or tool arguments) and its header names. Pass wait_seconds (up to 50) to wait for the person's decision. Follow any note the person left for you.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely("check_access_request", async ({ request_id, wait_seconds }) => {
      const session = sessionOf(context);
      const grant = await session.waitForDecision(request_id, context.props.connectionId, (wait_seconds ?? 0) * 1000);
      if (!grant) {
        return toolError(
          "not_found",
          "No such request for this connection. Use the request_id that request_elevated_access returned.",
        );
      }
      const { view, text } = await checkedView(grant, Date.now());
      return toolResult(view, text);
    }),
  );
}
