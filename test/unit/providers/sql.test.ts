/** The conservative SQL verdict behind Snowflake classification: reads are plain, everything else writes. */
import { describe, expect, it } from "vitest";
import { classifySql } from "../../../src/providers/sql";

describe("classifySql", () => {
  it.each([
    ["SELECT 1", ["SELECT"]],
    ["select * from orders where id = 3", ["SELECT"]],
    ["  SELECT 1;  ", ["SELECT"]],
    ["SELECT 1; SELECT 2", ["SELECT", "SELECT"]],
    ["SHOW TABLES IN SCHEMA analytics.public", ["SHOW"]],
    ["SHOW GRANTS TO ROLE analyst", ["SHOW"]],
    ["DESCRIBE TABLE orders", ["DESCRIBE"]],
    ["desc table orders", ["DESC"]],
    ["EXPLAIN SELECT * FROM orders", ["EXPLAIN"]],
    ["WITH recent AS (SELECT * FROM orders) SELECT count(*) FROM recent", ["WITH"]],
    ["(SELECT 1) UNION ALL (SELECT 2)", ["SELECT"]],
    ["SELECT ';DROP TABLE x' AS s", ["SELECT"]],
    ["SELECT 'it''s; DELETE FROM t' AS s", ["SELECT"]],
    ['SELECT "delete" FROM "update"', ["SELECT"]],
    ["SELECT $$; DROP TABLE x; $$", ["SELECT"]],
    ["SELECT 1 -- ; DROP TABLE x", ["SELECT"]],
    ["SELECT 1 // ; DROP TABLE x", ["SELECT"]],
    ["SELECT /* ; DROP TABLE x; */ 1", ["SELECT"]],
    ["SELECT replace(name, 'a', 'b') FROM t", ["SELECT"]],
  ])("reads %j", (sql, verbs) => {
    expect(classifySql(sql)).toEqual({ read: true, verbs });
  });

  it.each([
    ["SELECT 1; DROP TABLE x"],
    ["SELECT 1;DROP TABLE x"],
    ["delete from orders"],
    ["DeLeTe FROM orders"],
    ["INSERT INTO t VALUES (1)"],
    ["UPDATE t SET a = 1"],
    ["MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"],
    ["CREATE TABLE t (a INT)"],
    ["CREATE OR REPLACE TABLE t AS SELECT 1"],
    ["ALTER WAREHOUSE wh SUSPEND"],
    ["DROP TABLE t"],
    ["GRANT ROLE analyst TO USER bob"],
    ["REVOKE ROLE analyst FROM USER bob"],
    ["CALL cleanup()"],
    ["COPY INTO t FROM @stage"],
    ["PUT file:///tmp/x @stage"],
    ["TRUNCATE TABLE t"],
    ["EXECUTE IMMEDIATE $$ DROP TABLE x $$"],
    ["USE ROLE accountadmin"],
    ["USE WAREHOUSE wh"],
    ["SET x = 1"],
    ["BEGIN"],
    ["UNDROP TABLE t"],
    ["LIST @stage"],
    ["VALUES (1)"],
    ["WITH x AS (SELECT 1) DELETE FROM t"],
    ["WITH x AS (VALUES (1)) TABLE x"],
    ["SELECT * FROM t FOR UPDATE"],
    ["SELECT SYSTEM$CANCEL_ALL_QUERIES(1)"],
    ["select system$abort_session(1)"],
    ["SELECT seq.NEXTVAL"],
    ["EXPLAIN INSERT INTO t VALUES (1)"],
    ["SELECT 1 INTO :x"],
    [""],
    [";"],
    ["-- only a comment"],
    ["SELECT 'unterminated"],
    ['SELECT "unterminated'],
    ["SELECT /* unterminated"],
    ["SELECT $$ unterminated"],
    // With backslash escapes the string ends after \\ and the DROP runs; read either way, it is a write.
    ["SELECT 'a\\\\'; DROP TABLE x; --'"],
    // Without backslash escapes the string would end at \' and the DROP would run.
    ["SELECT 'a\\'; DROP TABLE x; --'"],
  ])("writes %j", (sql) => {
    expect(classifySql(sql).read).toBe(false);
  });
});
