package command

import "strings"

// ACL categories (Redis's ACLCommandCategories, in its order: ACL CAT lists them so and
// COMMAND INFO prints a command's in this order).
type aclCategory uint32

const (
	catKeyspace aclCategory = 1 << iota
	catRead
	catWrite
	catSet
	catSortedSet
	catList
	catHash
	catString
	catBitmap
	catHyperLogLog
	catGeo
	catStream
	catPubSub
	catAdmin
	catFast
	catSlow
	catBlocking
	catDangerous
	catConnection
	catTransaction
	catScripting
	numCategories = iota
)

var categoryNames = [numCategories]string{"keyspace", "read", "write", "set", "sortedset", "list",
	"hash", "string", "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting"}

// categoryByName returns the category called name (case-insensitive), or 0.
func categoryByName(name string) aclCategory {
	for i, n := range categoryNames {
		if strings.EqualFold(n, name) {
			return 1 << i
		}
	}
	return 0
}

// commandCategories is a command's categories as Redis's setImplicitACLCategories derives
// them: the ones its flags imply (write, read, admin and dangerous, pubsub, fast, else slow)
// and the ones Redis's command table lists explicitly (explicitCategories).
func commandCategories(cmd *command) aclCategory {
	cats := explicitCategories[cmd.name]
	if cmd.flags&flagWrite != 0 {
		cats |= catWrite
	}
	if cmd.flags&flagReadonly != 0 && cats&catScripting == 0 {
		cats |= catRead
	}
	if cmd.flags&flagAdmin != 0 {
		cats |= catAdmin | catDangerous
	}
	if cmd.flags&flagPubSub != 0 {
		cats |= catPubSub
	}
	if cmd.flags&flagFast != 0 {
		cats |= catFast
	}
	if cats&catFast == 0 {
		cats |= catSlow
	}
	return cats
}

// explicitCategories are the categories of Redis 7's command table that no command flag
// implies, by command full name ("container|sub"). Generated from Redis 7.0.15's COMMAND
// reply (its categories minus those implied by its flags), plus the 7.2 additions CLIENT
// SETINFO, CLIENT NO-TOUCH and WAITAOF. Commands sidecache lacks are listed too, so a command
// added to the table gets its categories without touching this file. A "blocking" command
// gets that category here: the table has no blocking flag.
var explicitCategories = parseCategoryTable(`
append string
asking connection
auth connection
bitcount bitmap
bitfield bitmap
bitfield_ro bitmap
bitop bitmap
bitpos bitmap
blmove list blocking
blmpop list blocking
blpop list blocking
brpop list blocking
brpoplpush list blocking
bzmpop sortedset blocking
bzpopmax sortedset blocking
bzpopmin sortedset blocking
client|caching connection
client|getname connection
client|getredir connection
client|help connection
client|id connection
client|info connection
client|kill connection
client|list connection
client|no-evict connection
client|no-touch connection
client|pause connection
client|reply connection
client|setinfo connection
client|setname connection
client|tracking connection
client|trackinginfo connection
client|unblock connection
client|unpause connection
command connection
command|count connection
command|docs connection
command|getkeys connection
command|getkeysandflags connection
command|help connection
command|info connection
command|list connection
copy keyspace
dbsize keyspace
decr string
decrby string
del keyspace
discard transaction
dump keyspace
echo connection
eval scripting
eval_ro scripting
evalsha scripting
evalsha_ro scripting
exec transaction
exists keyspace
expire keyspace
expireat keyspace
expiretime keyspace
fcall scripting
fcall_ro scripting
flushall keyspace dangerous
flushdb keyspace dangerous
function|delete scripting
function|dump scripting
function|flush scripting
function|help scripting
function|kill scripting
function|list scripting
function|load scripting
function|restore scripting
function|stats scripting
geoadd geo
geodist geo
geohash geo
geopos geo
georadius geo
georadius_ro geo
georadiusbymember geo
georadiusbymember_ro geo
geosearch geo
geosearchstore geo
get string
getbit bitmap
getdel string
getex string
getrange string
getset string
hdel hash
hello connection
hexists hash
hget hash
hgetall hash
hincrby hash
hincrbyfloat hash
hkeys hash
hlen hash
hmget hash
hmset hash
hrandfield hash
hscan hash
hset hash
hsetnx hash
hstrlen hash
hvals hash
incr string
incrby string
incrbyfloat string
info dangerous
keys keyspace dangerous
lastsave admin dangerous
lcs string
lindex list
linsert list
llen list
lmove list
lmpop list
lpop list
lpos list
lpush list
lpushx list
lrange list
lrem list
lset list
ltrim list
mget string
migrate keyspace dangerous
move keyspace
mset string
msetnx string
multi transaction
object|encoding keyspace
object|freq keyspace
object|help keyspace
object|idletime keyspace
object|refcount keyspace
persist keyspace
pexpire keyspace
pexpireat keyspace
pexpiretime keyspace
pfadd hyperloglog
pfcount hyperloglog
pfdebug hyperloglog
pfmerge hyperloglog
pfselftest hyperloglog
ping connection
psetex string
pttl keyspace
quit connection
randomkey keyspace
readonly connection
readwrite connection
rename keyspace
renamenx keyspace
reset connection
restore keyspace dangerous
restore-asking keyspace dangerous
role admin dangerous
rpop list
rpoplpush list
rpush list
rpushx list
sadd set
scan keyspace
scard set
script|debug scripting
script|exists scripting
script|flush scripting
script|help scripting
script|kill scripting
script|load scripting
sdiff set
sdiffstore set
select connection
set string
setbit bitmap
setex string
setnx string
setrange string
sinter set
sintercard set
sinterstore set
sismember set
smembers set
smismember set
smove set
sort set sortedset list dangerous
sort_ro set sortedset list dangerous
spop set
srandmember set
srem set
sscan set
strlen string
substr string
sunion set
sunionstore set
swapdb keyspace dangerous
touch keyspace
ttl keyspace
type keyspace
unlink keyspace
unwatch transaction
wait connection
waitaof blocking connection
watch transaction
xack stream
xadd stream
xautoclaim stream
xclaim stream
xdel stream
xgroup|create stream
xgroup|createconsumer stream
xgroup|delconsumer stream
xgroup|destroy stream
xgroup|help stream
xgroup|setid stream
xinfo|consumers stream
xinfo|groups stream
xinfo|help stream
xinfo|stream stream
xlen stream
xpending stream
xrange stream
xread stream blocking
xreadgroup stream blocking
xrevrange stream
xsetid stream
xtrim stream
zadd sortedset
zcard sortedset
zcount sortedset
zdiff sortedset
zdiffstore sortedset
zincrby sortedset
zinter sortedset
zintercard sortedset
zinterstore sortedset
zlexcount sortedset
zmpop sortedset
zmscore sortedset
zpopmax sortedset
zpopmin sortedset
zrandmember sortedset
zrange sortedset
zrangebylex sortedset
zrangebyscore sortedset
zrangestore sortedset
zrank sortedset
zrem sortedset
zremrangebylex sortedset
zremrangebyrank sortedset
zremrangebyscore sortedset
zrevrange sortedset
zrevrangebylex sortedset
zrevrangebyscore sortedset
zrevrank sortedset
zscan sortedset
zscore sortedset
zunion sortedset
zunionstore sortedset
`)

func parseCategoryTable(text string) map[string]aclCategory {
	m := map[string]aclCategory{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		var cats aclCategory
		for _, name := range f[1:] {
			c := categoryByName(name)
			if c == 0 {
				panic("acl: unknown category " + name + " for " + f[0])
			}
			cats |= c
		}
		m[f[0]] = cats
	}
	return m
}
