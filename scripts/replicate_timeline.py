# Replicates normalised events (`dnshunt events` output) into flat OTRF-shaped Sysmon JSON lines,
# shifting each replica by one day; with --new-guids each replica gets fresh ProcessGuids.
#
#   python3 scripts/replicate_timeline.py EVENTS.jsonl OUT.ndjson REPLICAS [--new-guids]
import json, sys, datetime
src, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
new_guids = '--new-guids' in sys.argv
events = [json.loads(l) for l in open(src)]
def fmt(t):
    return t.strftime('%Y-%m-%d %H:%M:%S.') + '%03d' % (t.microsecond // 1000)
def guid(g, r):
    if not g or not new_guids: return g
    return g[:1] + '%08x' % ((int(g[1:9], 16) + r) & 0xffffffff) + g[9:]
with open(out, 'w') as f:
    for r in range(reps):
        for e in events:
            t = datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ') + datetime.timedelta(days=r)
            p = e.get('process', {})
            d = {'Channel': 'Microsoft-Windows-Sysmon/Operational', 'Hostname': e.get('host') or '', 'UtcTime': fmt(t),
                 'ProcessGuid': guid(p.get('guid'), r), 'ProcessId': str(p.get('pid') or ''), 'Image': p.get('image') or '', 'User': p.get('user') or ''}
            k = e['event_type']
            if k == 'dns_query':
                d.update(EventID=22, QueryName=e['query']['name'], QueryStatus=str(e['status']['code']), QueryResults=e.get('results_raw') or '-')
            elif k == 'network_connect':
                d.update(EventID=3, Protocol=e.get('protocol') or 'tcp', Initiated='true' if e.get('initiated', True) else 'false',
                         SourceIp=e.get('source_ip') or '', SourcePort=str(e.get('source_port') or ''), DestinationIp=e.get('destination_ip') or '',
                         DestinationPort=str(e.get('destination_port') or ''))
            elif k == 'process_create':
                par = e.get('parent', {})
                d.update(EventID=1, CommandLine=e.get('command_line') or '', ParentProcessGuid=guid(par.get('guid'), r), ParentProcessId=str(par.get('pid') or ''),
                         ParentImage=par.get('image') or '', ParentCommandLine=e.get('parent_command_line') or '')
            else:
                continue
            d = {k2: v for k2, v in d.items() if v not in (None, '')}
            f.write(json.dumps(d) + '\n')
