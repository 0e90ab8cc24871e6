"""The scenarios as wrk Lua scripts, and one closed-loop wrk run with its parsed result.

Each script is a generated header (constants) + PRELUDE + the scenario's `request()` + DONE.
Data (user ids, userNames, group names, big-group members) is read from files in `init()`,
once per wrk thread, so 100,000 ids never go through the Lua parser as literals.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.seed import Manifest, employee_id

BULK_SIZE = 100  # users per POST /Bulk in bulk_create


@dataclass(frozen=True)
class Scenario:
    """A named request mix: its Lua `request()` and whether it runs against the ceiling app,
    or against a variant of the server on the same database (bench/run.py VARIANTS: the
    journal off, security events on), to measure what that capability costs."""

    name: str
    lua: str
    ceiling: bool = False
    creates: bool = False  # adds users that must be pruned after the run
    extended: bool = False  # needs the users seeded with examples/schemas' custom extension
    variant: str = ""  # "" (the server as configured), or a key of bench/run.py VARIANTS


@dataclass(frozen=True)
class Load:
    """How wrk drives a scenario: its threads, and its connections (requests in flight)."""

    threads: int
    connections: int


@dataclass(frozen=True)
class Result:
    """One wrk run of one scenario, with the server's CPU time over the same interval."""

    scenario: str
    requests: int
    seconds: float
    errors: int  # HTTP statuses >= 400 (wrk's "Non-2xx or 3xx responses")
    socket_errors: int
    p50_ms: float
    p99_ms: float
    cpu_seconds: float
    # The ceiling's windows on either side of this one (their mean): bench/run.py interleaves
    # them, so that machine noise hits a scenario and its reference alike.
    ceiling_rps: float = 0.0
    ceiling_cpu_per_1k: float = 0.0

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_1k(self) -> float:
        """Server CPU-seconds per 1,000 requests."""
        return 1000 * self.cpu_seconds / self.requests if self.requests else 0.0


PRELUDE = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function load(file)
  local t = {}
  for line in io.lines(DATA .. "/" .. file) do t[#t + 1] = line end
  return t
end
local function pick(t) return t[math.random(#t)] end
local function mixcase(s)
  return (s:gsub("%a", function(c) if math.random(2) == 1 then return c:upper() end end))
end
local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
local function user_json(name, index, extra)
  return '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name
    .. '","name":{"givenName":"' .. (extra.given or "Test") .. '","familyName":"User"},'
    .. '"emails":[{"primary":true,"value":"' .. name .. '","type":"work"}],'
    .. '"displayName":"Test User","locale":"en-US","externalId":"' .. index .. '",'
    .. (extra.id and ('"id":"' .. extra.id .. '",') or "")
    .. (extra.okta and '"groups":[],' or "")
    .. (extra.password and ('"password":"' .. extra.password .. '",') or "")
    .. '"active":true}'
end
local PATCH = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":['
wrk.headers["Authorization"] = "Bearer " .. TOKEN
wrk.headers["Content-Type"] = "application/scim+json"
local n = 0
"""

# `op_errors`: failed operations inside 200 answers (bulk_create counts them in response()).
DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("op_errors") or 0) end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"errors":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status + failed,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

LOOKUP = r"""
function init(args) math.randomseed(os.time() + tid); names = load("names.txt") end
function request()
  local filter = 'userName eq "' .. mixcase(pick(names)) .. '"'
  return wrk.format("GET", BASE .. "/Users?filter=" .. enc(filter) .. "&startIndex=1&count=100")
end
"""

# A lookup by a declared, indexed custom attribute (examples/schemas: employeeId, unique, caseExact
# false), the same shape as `lookup`, to compare the two in one run (issue #10).
CUSTOM_LOOKUP = r"""
function init(args) math.randomseed(os.time() + tid); employees = load("employees.txt") end
function request()
  local filter = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User:employeeId eq "'
    .. mixcase(pick(employees)) .. '"'
  return wrk.format("GET", BASE .. "/Users?filter=" .. enc(filter) .. "&startIndex=1&count=100")
end
"""

GET = r"""
function init(args) math.randomseed(os.time() + tid); ids = load("ids.txt") end
function request() return wrk.format("GET", BASE .. "/Users/" .. pick(ids)) end
"""

CREATE = r"""
function init(args) math.randomseed(os.time() + tid) end
function request()
  n = n + 1
  local name = PREFIX .. tid .. "-" .. n .. "@example.com"
  local body = user_json(name, "00u" .. tid .. "x" .. n, {okta = true, password = PASSWORD})
  return wrk.format("POST", BASE .. "/Users", nil, body)
end
"""

# BULK users per POST /Bulk, created with the body of create_nopw (RFC 7644 §3.7); a failed
# operation (its status 4xx/5xx inside the 200 BulkResponse) counts as an error.
BULK_CREATE = r"""
function init(args) math.randomseed(os.time() + tid); op_errors = 0 end
function request()
  n = n + 1
  local operations = {}
  for i = 1, BULK do
    local name = PREFIX .. tid .. "-" .. n .. "-" .. i .. "@example.com"
    local data = user_json(name, "00u" .. tid .. "x" .. n .. "x" .. i, {okta = true})
    operations[i] = '{"method":"POST","path":"/Users","bulkId":"u' .. i .. '","data":'
      .. data .. "}"
  end
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":['
    .. table.concat(operations, ",") .. "]}"
  return wrk.format("POST", BASE .. "/Bulk", nil, body)
end
function response(status, headers, body)
  if status == 200 and body:find('"status":"[45]') then op_errors = op_errors + 1 end
end
"""

DEACTIVATE = r"""
function init(args) math.randomseed(os.time() + tid); ids = load("ids.txt") end
local body = PATCH .. '{"op":"replace","value":{"active":false}}]}'
function request() return wrk.format("PATCH", BASE .. "/Users/" .. pick(ids), nil, body) end
"""

# Okta's update is GET then PUT; `get` measures the GET, this the PUT of the whole user.
REPLACE = r"""
function init(args)
  math.randomseed(os.time() + tid); ids = load("ids.txt"); names = load("names.txt")
end
function request()
  local i = math.random(#ids)
  local external = string.format("00u%017d", i - 1)
  local given = "Given" .. math.random(1000000)
  local body = user_json(names[i], external, {id = ids[i], given = given})
  return wrk.format("PUT", BASE .. "/Users/" .. ids[i], nil, body)
end
"""

PAGE = r"""
function init(args) math.randomseed(os.time() + tid) end
function request()
  local start = math.random(math.max(USERS - 99, 1))
  return wrk.format("GET", BASE .. "/Users?startIndex=" .. start .. "&count=100")
end
"""

FIRST_PAGE = r"""
function request() return wrk.format("GET", BASE .. "/Users?startIndex=1&count=100") end
"""

DEEP_PAGE = r"""
local path = BASE .. "/Users?startIndex=" .. math.max(USERS - 99, 1) .. "&count=100"
function request() return wrk.format("GET", path) end
"""

# Even requests take the next user of the pool in ("remove" on the big group, whose pool are
# its members; "add" on the empty one); odd requests undo that for the user taken LAG pairs
# earlier. With LAG >= the connections in flight, the undo never overtakes its own change, so
# the group keeps its size (big: seeded size - LAG; empty: LAG members) however the two
# workers interleave requests.
MEMBER = r"""
function init(args)
  local all = load(MEMBERS_FILE)
  local size = math.max(math.floor(#all / THREADS), 1)  -- each wrk thread its own users
  members = {}
  for i = 1, size do members[i] = all[(tid - 1) * size + i] or all[i] end
  step = 0
end
function request()
  local pair, first = math.floor(step / 2), step % 2 == 0
  step = step + 1
  local uid = members[(first and pair or pair - LAG) % #members + 1]
  local op
  if first == REMOVE_FIRST then
    op = '{"op":"remove","path":"members[value eq \\"' .. uid .. '\\"]"}'
  else
    op = '{"op":"add","path":"members","value":[{"value":"' .. uid .. '"}]}'
  end
  return wrk.format("PATCH", BASE .. "/Groups/" .. GROUP, nil, PATCH .. op .. "]}")
end
"""

GROUP_LOOKUP = r"""
function init(args) math.randomseed(os.time() + tid); groups = load("groups.txt") end
function request()
  local filter = 'displayName eq "' .. mixcase(pick(groups)) .. '"'
  local query = "?filter=" .. enc(filter) .. "&excludedAttributes=members"
  return wrk.format("GET", BASE .. "/Groups" .. query)
end
"""

# Entra's membership check: which groups is this user in? (the membership index, issue 3)
MEMBERS_LOOKUP = r"""
function init(args) math.randomseed(os.time() + tid); ids = load("ids.txt") end
function request()
  local filter = 'members.value eq "' .. pick(ids) .. '"'
  local query = "?filter=" .. enc(filter) .. "&excludedAttributes=members"
  return wrk.format("GET", BASE .. "/Groups" .. query)
end
"""

# Okta's lookup in one tenant among many (BENCH_TENANTS), on its base URL with its own token.
TENANT_LOOKUP = r"""
function init(args) math.randomseed(os.time() + tid); names = load("tenant_names.txt") end
function request()
  local filter = 'userName eq "' .. mixcase(pick(names)) .. '"'
  local path = TENANT_BASE .. "/Users?filter=" .. enc(filter) .. "&startIndex=1&count=100"
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. TENANT_TOKEN})
end
"""

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("ceiling", LOOKUP, ceiling=True),
        Scenario("lookup", LOOKUP),
        Scenario("tenant_lookup", TENANT_LOOKUP),
        Scenario("custom_lookup", CUSTOM_LOOKUP, extended=True),
        Scenario("get", GET),
        Scenario("lookup_nojournal", LOOKUP, variant="nojournal"),
        Scenario("get_nojournal", GET, variant="nojournal"),
        Scenario("create", CREATE, creates=True),
        Scenario("create_nopw", CREATE, creates=True),
        Scenario("bulk_create", BULK_CREATE, creates=True),
        Scenario("deactivate", DEACTIVATE),
        Scenario("replace", REPLACE),
        Scenario("first_page", FIRST_PAGE),
        Scenario("page", PAGE),
        Scenario("deep_page", DEEP_PAGE),
        Scenario("member_add", MEMBER),
        Scenario("member_add_empty", MEMBER),
        Scenario("group_lookup", GROUP_LOOKUP),
        Scenario("members_lookup", MEMBERS_LOOKUP),
        # Against a server over PostgreSQL seeded alike, in the same run (issue 12).
        Scenario("lookup+postgres", LOOKUP, variant="postgres"),
        Scenario("get+postgres", GET, variant="postgres"),
        Scenario("page+postgres", PAGE, variant="postgres"),
        Scenario("deactivate+postgres", DEACTIVATE, variant="postgres"),
        Scenario("member_add+postgres", MEMBER, variant="postgres"),
        # Each write again, against the server with security events on (issue 17).
        Scenario("deactivate+events", DEACTIVATE, variant="events"),
        Scenario("replace+events", REPLACE, variant="events"),
        Scenario("member_add+events", MEMBER, variant="events"),
        Scenario("create_nopw+events", CREATE, creates=True, variant="events"),
    ]
}


def write_data(directory: Path, manifest: Manifest) -> None:
    """The files the Lua scripts read: ids and userNames (aligned), groups, big-group members."""
    (directory / "ids.txt").write_text("".join(f"{i}\n" for i, _ in manifest.users))
    (directory / "names.txt").write_text("".join(f"{n}\n" for _, n in manifest.users))
    employees = "".join(f"{employee_id(i)}\n" for i in range(len(manifest.users)))
    (directory / "employees.txt").write_text(employees)
    (directory / "groups.txt").write_text("".join(f"{g}\n" for g in manifest.group_names))
    (directory / "big_members.txt").write_text("".join(f"{m}\n" for m in manifest.big_members))
    (directory / "tenant_names.txt").write_text("".join(f"{n}\n" for n in manifest.tenant_names))
    shuffled = [i for i, _ in manifest.users]
    random.Random(7).shuffle(shuffled)
    (directory / "all_users.txt").write_text("".join(f"{m}\n" for m in shuffled))


def script(
    scenario: Scenario, directory: Path, manifest: Manifest, token: str, tag: str, load: Load
) -> Path:
    """Write the scenario's Lua file; `tag` makes created userNames unique per run."""
    twin = scenario.name.split("+")[0]  # a variant's requests are its twin's ("member_add")
    big = twin == "member_add"
    constants = {
        "DATA": str(directory),
        "TOKEN": token,
        "BASE": "/scim/v2",
        "USERS": len(manifest.users),
        "PREFIX": f"new-{tag}-",
        "PASSWORD": "1mz050nq" if twin == "create" else False,
        "GROUP": manifest.big_group if big else manifest.empty_group,
        "MEMBERS_FILE": "big_members.txt" if big else "all_users.txt",
        "REMOVE_FIRST": big,  # the big group's pool are its members
        "LAG": load.connections,
        "THREADS": load.threads,
        "BULK": BULK_SIZE,
        "TENANT_BASE": f"/scim/v2/tenants/{manifest.tenant}",
        "TENANT_TOKEN": manifest.tenant_token,
    }
    header = "".join(f"{name} = {_lua(value)}\n" for name, value in constants.items())
    path = directory / f"{scenario.name}.lua"
    title = f"-- {scenario.name}: generated by bench/load.py\n"
    path.write_text(title + header + PRELUDE + scenario.lua + DONE)
    return path


def run(wrk: str, script_path: Path, url: str, seconds: int, load: Load) -> dict[str, float]:
    """One closed-loop wrk run; the numbers its done() hook printed."""
    (found,) = run_together(wrk, [(script_path, url, load)], seconds)
    return found


def run_together(
    wrk: str, jobs: list[tuple[Path, str, Load]], seconds: int
) -> list[dict[str, float]]:
    """wrk runs side by side for the same seconds (a mixed load); each one's numbers."""
    started = []
    for script_path, url, load in jobs:
        command = [
            wrk, f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s", "--timeout", "30s",
            "-s", str(script_path), url,
        ]  # fmt: skip
        pipe = subprocess.PIPE
        started.append(subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True))
    return [_numbers(process, *process.communicate()) for process in started]


def _numbers(process: subprocess.Popen[str], stdout: str, stderr: str) -> dict[str, float]:
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            parsed: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
            return parsed
    raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")


def _lua(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string of ASCII text is a valid Lua string
