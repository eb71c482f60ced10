/** Operations in words (providers/describe.ts): what matches, and every case that gets no words. */
import { describe, expect, it } from "vitest";
import { demoProvider } from "../../../src/demo/demo-provider";
import { describeOperation } from "../../../src/providers/describe";
import { GITHUB } from "../../../src/providers/registry/github";
import { json, request } from "./request";

const DEMO = demoProvider({ publicHost: "127.0.0.1", publicOrigin: "http://127.0.0.1:8787" });
const demo = (method: string, path: string, body = "", headers: Record<string, string> = {}) =>
  describeOperation(DEMO.operations, request(method, `http://127.0.0.1:8787${path}`, body, headers));
const github = (method: string, path: string, body = "", headers: Record<string, string> = {}) =>
  describeOperation(GITHUB.operations, request(method, `https://api.github.com${path}`, body, headers));

describe("describeOperation", () => {
  it.each([
    ["POST", "/demo-api/notes", json({ title: "a", text: "b" }), "create a note in Demo notes"],
    ["POST", "/demo-api/notes/", json({ title: "a", text: "b" }), "create a note in Demo notes"],
    ["GET", "/demo-api/notes", "", "list the notes in Demo notes"],
    ["DELETE", "/demo-api/notes/n7", "", "delete the note n7 in Demo notes"],
    ["POST", "/demo-api/search", json({ query: "milk" }), "search the notes in Demo notes"],
  ])("describes the demo's %s %s", (method, path, body, words) => {
    expect(demo(method, path, body)).toBe(words);
  });

  it("fills the named segments with their decoded text", () => {
    expect(github("POST", "/repos/octo/hello%20world/issues", json({ title: "t" }))).toBe(
      "create an issue in octo/hello world",
    );
    expect(github("PUT", "/repos/octo/app/pulls/42/merge")).toBe("merge pull request #42 in octo/app");
    expect(github("DELETE", "/repos/octo/app")).toBe("delete the repository octo/app");
  });

  it("cuts a long segment so the words stay short", () => {
    const words = github("DELETE", `/repos/octo/${"r".repeat(500)}`) ?? "";
    expect(words.length).toBeLessThan(140);
    expect(words).toContain("…");
  });

  it("leaves hidden characters in for the page to reveal (it never hides them)", () => {
    expect(github("DELETE", "/repos/octo/a%E2%80%8Bb")).toBe("delete the repository octo/a\u200Bb");
  });

  it.each([
    ["a method that is not listed", () => demo("PUT", "/demo-api/notes/n1", json({}))],
    ["a path that is not listed", () => demo("POST", "/demo-api/archive", json({}))],
    ["one segment too many", () => demo("DELETE", "/demo-api/notes/n1/x")],
    ["an empty segment where a name goes", () => github("DELETE", "/repos/octo/")],
    ["lower-case method spelling", () => demo("post", "/demo-api/notes", json({}))],
    [
      "a method override header",
      () => demo("POST", "/demo-api/notes", json({}), { "x-http-method-override": "DELETE" }),
    ],
    ["a method override in the query", () => demo("POST", "/demo-api/notes?_method=DELETE", json({}))],
    ["a method override in the body", () => demo("POST", "/demo-api/notes", json({ _method: "DELETE" }))],
    ["a GET with a body", () => demo("GET", "/demo-api/notes", json({ delete: true }))],
    ["an ambiguous path", () => demo("DELETE", "/demo-api/notes/a%252Fb")],
    ["a case variant of a listed path", () => demo("POST", "/Demo-Api/Notes", json({}))],
  ])("gives no words for %s", (_label, words) => {
    expect(words()).toBeNull();
  });

  it("gives no words for a provider without a table", () => {
    expect(describeOperation(undefined, request("GET", "https://api.linear.app/graphql"))).toBeNull();
    expect(describeOperation([], request("GET", "https://api.linear.app/graphql"))).toBeNull();
  });
});
