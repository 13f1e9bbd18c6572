from faxd.green import patch; patch()
import sys, time, uuid, gevent, psycopg2, statistics
from faxd.store import PostgresStore
from faxd.store.migrate import migrate
admin="postgresql://postgres@127.0.0.1:5432/postgres"
c=psycopg2.connect(admin); c.autocommit=True; cur=c.cursor()
cur.execute("DROP DATABASE IF EXISTS gc_micro"); cur.execute("CREATE DATABASE gc_micro"); c.close()
dsn="postgresql://postgres@127.0.0.1:5432/gc_micro"; migrate(dsn)
N=int(sys.argv[1]); W=int(sys.argv[2]); R=int(sys.argv[3])
s=PostgresStore(dsn, pool_size=20, commit_writers=W)
acct=s.create_account("a").account_id
jobs=[]
with s.transaction() as cur:
    for i in range(N):
        j=uuid.uuid4().hex; jobs.append(j)
        cur.execute("INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, lease_owner, lease_expires) VALUES (%s,%s,'processing',%s,'+1',1,'bench',now()+interval '1 hour')",(j,acct,f"+1{i}"))
lat=[]
def one(j):
    for k in range(R):
        t=time.perf_counter(); s.record_progress(j,"bench",1,{"stage":"pages","pages_sent":k}); lat.append(time.perf_counter()-t)
        gevent.sleep(0.01)
import resource
r0=resource.getrusage(resource.RUSAGE_SELF)
t=time.perf_counter()
gevent.joinall([gevent.spawn(one,j) for j in jobs])
el=time.perf_counter()-t
lat.sort()
r1=resource.getrusage(resource.RUSAGE_SELF)
print('client cpu s', round(r1.ru_utime+r1.ru_stime-r0.ru_utime-r0.ru_stime,2), 'wall', round(el,2))
print(f"N={N} writers={W}: {N*R/el:.0f} writes/s p50={lat[len(lat)//2]*1000:.1f} ms p99={lat[int(len(lat)*.99)]*1000:.1f} ms commits={getattr(s.groups,'commits',None)}")
s.close()
