#!/usr/bin/env bash
# End-to-end check of the test node, curl-based (python3 only parses JSON answers):
# start -> GET / -> index template -> index -> _bulk 3 docs -> _refresh -> sort + search_after
# -> PIT open/search/slices/close -> sliced scroll -> composite aggregation -> cleanup
# -> stop -> the process is gone and the ports are free.  Exits non-zero on any failure.
# Env: as start.sh (OPENSEARCH_PORT, ...). Refuses to run against a node that is already up,
# because it stops the node at the end.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"
for tool in curl python3; do command -v "$tool" >/dev/null || { echo "smoke: '$tool' is required" >&2; exit 2; }; done

PASS=0; FAIL=0
ok()   { PASS=$((PASS + 1)); echo "PASS $1"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# api METHOD PATH [BODY] [CONTENT_TYPE] -> $CODE, $BODY
api() {
  local ctype=${4:-application/json} out
  out=$(curl -sS --noproxy "*" --max-time 60 -X "$1" -H "Content-Type: $ctype" -w '\n%{http_code}' \
        ${3:+--data-binary "$3"} "$OS_URL$2") || { CODE=000; BODY=""; return 0; }
  CODE=${out##*$'\n'}; BODY=${out%$'\n'*}
}
# jq-like: py 'EXPR' evaluates EXPR with d = parsed $BODY and prints the result
py() { printf '%s' "$BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list)) else r)' "$1" 2>/dev/null; }
is() { [ "$(py "$1")" = "$2" ]; }

if os_live_pid >/dev/null || os_port_busy "$OS_PORT"; then
  echo "smoke: something already runs on $OS_URL; stop it first (stop.sh) or set OPENSEARCH_PORT" >&2; exit 2
fi

STARTED=0
cleanup() { [ "$STARTED" = 1 ] && "$HERE/stop.sh" >/dev/null 2>&1; }
trap cleanup EXIT

# ---- start ---------------------------------------------------------------------------------
t0=$(date +%s%N)
if url=$("$HERE/start.sh"); then STARTED=1; ok "start.sh -> $url in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else bad "start.sh"; echo "smoke: $PASS passed, $FAIL failed"; exit 1; fi
PID=$(os_live_pid)
# a second start must notice the running node and succeed without starting another
check "start.sh again is a no-op" bash -c "[ \"\$('$HERE/start.sh' 2>/dev/null)\" = '$OS_URL' ] && [ \"\$(cat '$OS_PIDFILE')\" = '$PID' ]"

api GET /
echo "GET / ->"; echo "$BODY"
check "GET / distribution=opensearch" is 'd["version"]["distribution"]' opensearch
check "GET / version 2.19.x" is 'd["version"]["number"].startswith("2.19.")' True
api GET "/_cluster/health?wait_for_status=yellow&timeout=30s"
check "cluster health green/yellow" is 'd["status"] in ("green","yellow")' True

# ---- index template -------------------------------------------------------------------------
IDX=smoke-dns-000001
api DELETE "/$IDX"
api DELETE /_index_template/smoke-dns
api PUT /_index_template/smoke-dns '{
  "index_patterns": ["smoke-dns-*"], "priority": 100,
  "template": {
    "settings": {"number_of_shards": 2, "number_of_replicas": 0},
    "mappings": {"properties": {
      "@timestamp": {"type": "date"},
      "host": {"properties": {"name": {"type": "keyword"}}},
      "winlog": {"properties": {"event_id": {"type": "integer"}, "record_id": {"type": "long"},
        "event_data": {"properties": {"QueryName": {"type": "keyword"}, "Image": {"type": "keyword"}}}}}}}}}'
check "PUT _index_template" is 'd.get("acknowledged")' True
api GET /_index_template/smoke-dns
check "GET _index_template" is 'd["index_templates"][0]["name"]' smoke-dns

# ---- index create + bulk + refresh -----------------------------------------------------------
api PUT "/$IDX" '{}'
check "create index" is 'd.get("acknowledged")' True
api GET "/$IDX/_mapping"
check "template applied to new index" is "d['$IDX']['mappings']['properties']['winlog']['properties']['event_data']['properties']['QueryName']['type']" keyword
BULK='{"index":{"_index":"'$IDX'","_id":"1"}}
{"@timestamp":"2024-05-01T10:00:00Z","host":{"name":"WIN-01"},"winlog":{"event_id":22,"record_id":1,"event_data":{"QueryName":"www.example.com","Image":"C:\\Windows\\System32\\svchost.exe"}}}
{"index":{"_index":"'$IDX'","_id":"2"}}
{"@timestamp":"2024-05-01T10:00:01Z","host":{"name":"WIN-02"},"winlog":{"event_id":22,"record_id":2,"event_data":{"QueryName":"x1.evil.xyz","Image":"C:\\Users\\bob\\a.exe"}}}
{"index":{"_index":"'$IDX'","_id":"3"}}
{"@timestamp":"2024-05-01T10:00:01Z","host":{"name":"WIN-01"},"winlog":{"event_id":22,"record_id":3,"event_data":{"QueryName":"www.example.com","Image":"C:\\Users\\bob\\a.exe"}}}
'
api POST /_bulk "$BULK" application/x-ndjson
check "_bulk 3 docs" is '(d["errors"], len(d["items"]))' "(False, 3)"
api POST "/$IDX/_refresh"
check "_refresh" is 'd["_shards"]["failed"]' 0
api GET "/$IDX/_count"
check "_count = 3" is 'd["count"]' 3

# ---- sort + search_after ---------------------------------------------------------------------
SORT='"sort":[{"@timestamp":"asc"},{"winlog.record_id":"asc"}]'
api POST "/$IDX/_search" '{"size":2,'"$SORT"'}'
check "search page 1 (sort)" is '[h["_id"] for h in d["hits"]["hits"]]' '["1", "2"]'
AFTER=$(py 'd["hits"]["hits"][-1]["sort"]')
api POST "/$IDX/_search" '{"size":2,'"$SORT"',"search_after":'"$AFTER"'}'
check "search page 2 (search_after $AFTER)" is '[h["_id"] for h in d["hits"]["hits"]]' '["3"]'

# ---- point in time ---------------------------------------------------------------------------
api POST "/$IDX/_search/point_in_time?keep_alive=1m"
PIT=$(py 'd["pit_id"]')
check "open PIT" test -n "$PIT" -a "$PIT" != None
api GET /_search/point_in_time/_all
check "list PITs" is 'len(d["pits"])' 1
api POST /_search '{"size":2,"pit":{"id":"'"$PIT"'","keep_alive":"1m"},'"$SORT"'}'
IDS=$(py '[h["_id"] for h in d["hits"]["hits"]]'); AFTER=$(py 'd["hits"]["hits"][-1]["sort"]')
api POST /_search '{"size":2,"pit":{"id":"'"$PIT"'","keep_alive":"1m"},'"$SORT"',"search_after":'"$AFTER"'}'
check "PIT search + search_after" [ "$IDS $(py '[h["_id"] for h in d["hits"]["hits"]]')" = '["1", "2"] ["3"]' ]
N=0
for s in 0 1; do
  api POST /_search '{"size":10,"pit":{"id":"'"$PIT"'","keep_alive":"1m"},"slice":{"id":'$s',"max":2},'"$SORT"'}'
  N=$((N + $(py 'len(d["hits"]["hits"])' || echo 100)))
done
check "PIT slices (2) cover 3 docs" [ "$N" = 3 ]
api DELETE /_search/point_in_time '{"pit_id":["'"$PIT"'"]}'
check "delete PIT" is 'd["pits"][0]["successful"]' True

# ---- sliced scroll ---------------------------------------------------------------------------
N=0
for s in 0 1; do
  api POST "/$IDX/_search?scroll=1m" '{"size":10,"slice":{"id":'$s',"max":2}}'
  N=$((N + $(py 'len(d["hits"]["hits"])' || echo 100)))
  SID=$(py 'd["_scroll_id"]'); api DELETE /_search/scroll '{"scroll_id":"'"$SID"'"}'
done
check "sliced scroll (2) covers 3 docs" [ "$N" = 3 ]

# ---- composite aggregation (paged with after_key) --------------------------------------------
BUCKETS=""; AK=""
for _ in 1 2 3 4 5; do
  api POST "/$IDX/_search" '{"size":0,"aggs":{"q":{"composite":{"size":1,'"${AK:+\"after\":$AK,}"'"sources":[{"name":{"terms":{"field":"winlog.event_data.QueryName"}}}]}}}}'
  [ "$CODE" = 200 ] || break
  BUCKETS="$BUCKETS$(py '" ".join("%s=%d" % (b["key"]["name"], b["doc_count"]) for b in d["aggregations"]["q"]["buckets"])') "
  AK=$(py 'd["aggregations"]["q"].get("after_key")'); [ "$AK" = None ] && break
  [ "$(py 'len(d["aggregations"]["q"]["buckets"])')" = 0 ] && break
done
check "composite agg on keyword, paged: ${BUCKETS% }" [ "$(echo $BUCKETS)" = "www.example.com=2 x1.evil.xyz=1" ]
api POST "/$IDX/_search" '{"size":0,"aggs":{"c":{"composite":{"size":10,"sources":[{"h":{"terms":{"field":"host.name"}}},{"img":{"terms":{"field":"winlog.event_data.Image"}}}]}}}}'
check "composite agg, 2 sources" is 'len(d["aggregations"]["c"]["buckets"])' 3

# ---- cleanup -------------------------------------------------------------------------------
api DELETE "/$IDX"
check "delete index" is 'd.get("acknowledged")' True
api DELETE /_index_template/smoke-dns
check "delete _index_template" is 'd.get("acknowledged")' True

# ---- stop ----------------------------------------------------------------------------------
check "stop.sh" "$HERE/stop.sh"
STARTED=0
# (a zombie waiting for init to reap it counts as gone: it holds no memory, files or ports)
for _ in $(seq 1 25); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
gone() { ! os_alive "$1"; }
check "process $PID is gone" gone "$PID"
check "pid file removed" test ! -e "$OS_PIDFILE"
check "port $OS_PORT free" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$OS_PORT) 2>/dev/null && ! ss -Hltn 'sport = :$OS_PORT' | grep -q ."
check "port $OS_TPORT free" bash -c "! ss -Hltn 'sport = :$OS_TPORT' | grep -q ."
check "stop.sh when nothing runs exits 0" "$HERE/stop.sh"

echo "smoke: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
