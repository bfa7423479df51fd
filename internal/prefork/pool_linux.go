package prefork

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// Back-off for workers that die young.
const (
	youngAge     = time.Second            // a worker dying sooner died young
	FirstBackoff = 100 * time.Millisecond // the wait after the first young death
	MaxBackoff   = 5 * time.Second        // the longest wait before a replacement
)

// Config describes a pool.
type Config struct {
	Path    string   // the executable started as a worker (the master's own)
	Args    []string // its argv
	Workers int      // how many to keep
	// Grace is what a stopping worker gets (SIGTERM or SIGINT to the
	// master, a worker retired by SIGHUP or SIGTTOU, every worker of a
	// master that handed over) before SIGKILL. SIGQUIT gives none.
	Grace time.Duration
	// ReadyTimeout is what a new worker, or a successor master, gets to
	// say it is ready; then it is killed, and a worker counts as dying
	// young.
	ReadyTimeout time.Duration
	// WorkerTimeout is how long a ready worker may go without a heartbeat
	// before it is killed and replaced; zero: no liveness check.
	WorkerTimeout time.Duration
	Listener      *os.File // the listening socket every worker inherits
	// Extra are more files every worker (and a successor master)
	// inherits, each found by its name with File: the TFTP socket, say.
	Extra []Inherited
	// Settings is the workers' configuration: it reaches each worker in
	// JSON in its first control message, and Join decodes it.
	Settings any
	Stdout   *os.File
	Stderr   *os.File
	Log      func(format string, args ...any)
	// Ready is called once, when as many workers are ready as the pool
	// wants at that moment, with that number. An error stops the pool,
	// and Run returns it.
	Ready func(workers int) error
	// MasterArgs is the argv a successor master is started with on
	// SIGUSR2 (the binary at Path, as it is on disk then); nil: no upgrade.
	MasterArgs []string
}

type worker struct {
	id       int
	child    *supervise.Child
	conn     *supervise.Conn
	gen      int // the generation it was started in (SIGHUP starts a new one)
	started  time.Time
	ready    bool
	retiring bool // asked to go (SIGTTOU, a roll): counted no more, not replaced
	failed   bool // killed for want of a ready or a heartbeat: dies young
}

// event is a message from a worker, or from the successor master.
type event struct {
	pid int
	msg string // readyMsg or beatMsg
}

// pool is the master's state; only Run's goroutine touches it.
type pool struct {
	cfg         Config
	group       *supervise.Group
	workers     map[int]*worker
	want        int
	nextID      int
	events      chan event
	announced   bool
	err         error            // what stops the pool, if not a signal
	young       int              // workers that died young in a row
	respawn     *time.Timer      // the back-off: no worker starts until it fires
	gen         int              // the current generation of workers
	rolling     bool             // a SIGHUP's replacement is under way
	succ        *supervise.Group // the new master started by SIGUSR2: a group of its own, out of the workers' stops
	successor   *supervise.Child
	succConn    *supervise.Conn
	handedOver  bool   // the successor serves: this master drains and exits
	settingsMsg []byte // every worker's first message (settings)
}

// Run starts the workers and runs the pool until it is stopped, or until a
// successor master started by SIGUSR2 serves and this pool has drained:
// handedOver says which (the pidfile names the successor then, and is not
// this master's to remove). sigs must carry SIGCHLD, SIGTTIN, SIGTTOU,
// SIGHUP, SIGUSR2, SIGTERM, SIGINT and SIGQUIT.
func Run(cfg Config, sigs <-chan os.Signal) (handedOver bool, err error) {
	p := &pool{cfg: cfg, group: supervise.NewGroup(), succ: supervise.NewGroup(), workers: map[int]*worker{},
		want: cfg.Workers, events: make(chan event, 64)}
	if p.settingsMsg, err = p.settings(); err != nil {
		return false, fmt.Errorf("workers' settings: %w", err)
	}
	for i := 0; i < cfg.Workers; i++ {
		if err := p.spawn(); err != nil {
			p.stop(syscall.SIGTERM, p.cfg.Grace)
			p.drainUntilEmpty(sigs)
			return false, err
		}
	}
	p.maybeAnnounce()
	var respawn <-chan time.Time
	for !(p.group.Stopping() && p.group.Len() == 0 && p.succ.Len() == 0) {
		if p.respawn != nil {
			respawn = p.respawn.C
		}
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGCHLD:
				p.reap()
			case syscall.SIGTTIN, syscall.SIGTTOU:
				p.resize(sig.(syscall.Signal))
			case syscall.SIGHUP:
				p.restart()
			case syscall.SIGUSR2:
				p.upgrade()
			case syscall.SIGTERM, syscall.SIGINT:
				p.cfg.Log("SIG%s: stopping, in-flight transfers get %v", vocab.SignalName(sig.(syscall.Signal)), p.cfg.Grace)
				p.stop(syscall.SIGTERM, p.cfg.Grace)
			case syscall.SIGQUIT:
				p.cfg.Log("SIGQUIT: stopping once in-flight transfers are done")
				p.stop(syscall.SIGTERM, 0)
			}
		case ev := <-p.events:
			p.event(ev)
		case <-respawn:
			p.respawn, respawn = nil, nil
			p.reconcile()
		case <-p.group.Deadline():
			p.overdue(p.group.Expired())
		case <-p.succ.Deadline():
			for _, o := range p.succ.Expired() {
				if o.Phase == supervise.Stopping {
					p.cfg.Log("new master pid=%d still there %v after SIGTERM: killed", o.Child.Pid, o.After)
					continue // the group killed it
				}
				p.cfg.Log("new master pid=%d not serving after %v: killed", o.Child.Pid, o.After)
				_ = o.Child.Signal(syscall.SIGKILL) // ESRCH only: reaped next
			}
		}
	}
	return p.handedOver, p.err
}

// overdue applies the pool's policy to workers whose deadline passed: one
// not ready in time, or silent for WorkerTimeout, is killed (and replaced
// when reaped, as dying young); one retiring past its grace has been
// killed by the group.
func (p *pool) overdue(due []supervise.Overdue) {
	killed := 0
	for _, o := range due {
		w, ok := p.workers[o.Child.Pid]
		if !ok {
			continue
		}
		switch o.Phase {
		case supervise.Starting:
			p.cfg.Log("worker %d pid=%d not ready after %v: killed", w.id, o.Child.Pid, o.After)
		case supervise.Running:
			p.cfg.Log("worker %d: no heartbeat for %v, killed", o.Child.Pid, o.After)
		case supervise.Stopping:
			killed++
			continue
		}
		w.failed = o.Phase == supervise.Starting
		_ = o.Child.Signal(syscall.SIGKILL) // ESRCH only: reaped next
	}
	if killed > 0 {
		p.cfg.Log("grace over: killed %s", vocab.Count(killed, "worker"))
	}
}

// drainUntilEmpty reaps until every worker started is gone, killing
// those still there after their grace.
func (p *pool) drainUntilEmpty(sigs <-chan os.Signal) {
	for p.group.Len() > 0 {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGCHLD {
				p.reap()
			}
		case <-p.group.Deadline():
			// Every deadline is a stop's grace now: the group has killed
			// whoever outlived it, and the reap that follows reports them.
			_ = p.group.Expired()
		}
	}
}

func (p *pool) spawn() error {
	conn, childEnd, err := supervise.NewPair()
	if err != nil {
		return err
	}
	// The settings go first: the worker finds them waiting when it joins.
	if err := conn.Send(p.settingsMsg); err != nil {
		_ = conn.Close()     // a socket's close fails only on a bad descriptor
		_ = childEnd.Close() // likewise; the send's error is the one to report
		return fmt.Errorf("spawn worker: settings: %w", err)
	}
	p.nextID++
	id := p.nextID
	files, named := childFiles(p.cfg.Stdout, p.cfg.Stderr, p.cfg.Listener, childEnd, p.cfg.Extra)
	child, err := supervise.Start(supervise.Spec{
		Name:  "worker",
		Path:  p.cfg.Path,
		Args:  p.cfg.Args,
		Env:   append(os.Environ(), named),
		Files: files,
	})
	_ = childEnd.Close() // the child holds its own copy now; a socket's close cannot fail here
	if err != nil {
		_ = conn.Close() // a socket's close fails only on a bad descriptor
		return err
	}
	p.group.Add(child)
	p.group.Arm(child.Pid, supervise.Starting, p.cfg.ReadyTimeout)
	p.workers[child.Pid] = &worker{id: id, child: child, conn: conn, gen: p.gen, started: time.Now()}
	go watch(child.Pid, conn, p.events)
	return nil
}

// settings is the first message to a worker: its heartbeat period and
// Config.Settings.
func (p *pool) settings() ([]byte, error) {
	set := settings{Heartbeat: heartbeatEvery(p.cfg.WorkerTimeout)}
	if p.cfg.Settings != nil {
		w, err := json.Marshal(p.cfg.Settings)
		if err != nil {
			return nil, err
		}
		set.Worker = w
	}
	msg, err := json.Marshal(set)
	if err == nil && len(msg) > maxSettings {
		err = fmt.Errorf("%d bytes, over %d", len(msg), maxSettings)
	}
	return msg, err
}

// watch tells the loop what a worker (or the successor) says. It ends when
// the child's end closes (its death is learnt from SIGCHLD, not from here).
func watch(pid int, conn *supervise.Conn, events chan<- event) {
	conn.Watch(maxMsg, func(msg []byte, err error) {
		if m := string(msg); err == nil && (m == readyMsg || m == beatMsg) {
			events <- event{pid: pid, msg: m}
		}
	})
}

func (p *pool) event(ev event) {
	if p.successor != nil && ev.pid == p.successor.Pid {
		if ph, ok := p.succ.Phase(ev.pid); ok && ph == supervise.Starting {
			p.succ.Disarm(ev.pid) // a stop's grace stays armed
		}
		if ev.msg == readyMsg && !p.group.Stopping() {
			p.handedOver = true
			p.succ.Release(ev.pid)  // it serves: not this master's to wait for or stop
			_ = p.successor.Close() // its pidfd: nothing more is sent to it
			p.cfg.Log("new master pid=%d serves: draining and exiting", ev.pid)
			p.stop(syscall.SIGTERM, p.cfg.Grace)
		}
		return
	}
	w, ok := p.workers[ev.pid]
	if !ok || w.retiring || p.group.Stopping() {
		return // its deadline is its grace now
	}
	if ev.msg == beatMsg {
		if w.ready {
			p.group.Arm(ev.pid, supervise.Running, p.cfg.WorkerTimeout)
		}
		return
	}
	if w.ready {
		return
	}
	w.ready = true
	p.group.Arm(ev.pid, supervise.Running, p.cfg.WorkerTimeout)
	p.cfg.Log("worker %d pid=%d ready (generation %d)", w.id, ev.pid, w.gen)
	p.maybeAnnounce()
	p.reconcile()
}

// upgrade starts a successor master from the binary on disk (SIGUSR2),
// handing it the listening socket. The successor starts its own workers and
// says ready once they accept; then this master drains and exits. Until
// then, and if the successor fails, this one serves on.
func (p *pool) upgrade() {
	switch {
	case p.cfg.MasterArgs == nil:
		p.cfg.Log("SIGUSR2: no upgrade configured")
		return
	case p.successor != nil || p.group.Stopping():
		p.cfg.Log("SIGUSR2: an upgrade or a stop is under way already")
		return
	case !p.announced:
		// A master not serving yet may be a successor itself: one that
		// handed over before it served would never tell its predecessor,
		// who would serve on beside the new one.
		p.cfg.Log("SIGUSR2: not serving yet, no upgrade")
		return
	}
	conn, childEnd, err := supervise.NewPair()
	if err != nil {
		p.cfg.Log("SIGUSR2: %v", err)
		return
	}
	files, named := childFiles(p.cfg.Stdout, p.cfg.Stderr, p.cfg.Listener, childEnd, p.cfg.Extra)
	child, err := supervise.Start(supervise.Spec{
		Name:    "new master",
		Path:    p.cfg.Path,
		Args:    p.cfg.MasterArgs,
		Env:     append(os.Environ(), UpgradeEnv+"=1", named),
		Files:   files,
		Outlive: true, // it takes over: it must not die with this master
	})
	_ = childEnd.Close() // the child holds its own copy now; a socket's close cannot fail here
	if err != nil {
		_ = conn.Close() // a socket's close fails only on a bad descriptor
		p.cfg.Log("SIGUSR2: start the new master: %v", err)
		return
	}
	// Not among the workers: a stop must not reach it. Reap still reports it.
	p.succ.Add(child)
	p.succ.Arm(child.Pid, supervise.Starting, p.cfg.ReadyTimeout)
	p.successor, p.succConn = child, conn
	p.cfg.Log("SIGUSR2: new master pid=%d starting from %s", child.Pid, p.cfg.Path)
	go watch(child.Pid, conn, p.events)
}

// restart replaces every worker, one at a time (SIGHUP): the workers of
// now are the old generation, and reconcile starts new ones and retires
// old ones as the new ones accept.
func (p *pool) restart() {
	if p.group.Stopping() {
		return
	}
	p.gen++
	p.rolling = true
	p.cfg.Log("SIGHUP: replacing the workers one by one (generation %d)", p.gen)
	p.reconcile()
}

// resize takes SIGTTIN (one worker more) or SIGTTOU (one fewer); reconcile
// starts or retires the worker.
func (p *pool) resize(sig syscall.Signal) {
	name := "SIG" + vocab.SignalName(sig)
	switch {
	case p.group.Stopping():
		// reconcile starts no worker once stopping (none would be asked
		// to stop); say so rather than log a size that will not be.
		p.cfg.Log("%s: stopping, no worker added or retired", name)
		return
	case sig == syscall.SIGTTOU && p.want == 0:
		p.cfg.Log("SIGTTOU: no worker left to retire")
		return
	case sig == syscall.SIGTTOU:
		p.want--
	default:
		p.want++
	}
	p.cfg.Log("%s: %s", name, vocab.Count(p.want, "worker"))
	p.reconcile()
}

// reconcile brings the workers to what the pool wants, from what they are
// now: it is called after every change (a signal, a worker ready or
// reaped, the back-off over), so no sequence of them can leave the pool
// off its size or a SIGHUP half done. The workers that count are those not
// retiring: cur, of the current generation (ready or starting), and old,
// of an earlier one (a SIGHUP is under way).
//   - An old worker is retired as soon as the ready ones of cur and old
//     together are more than wanted: a new worker that accepts retires an
//     old one, and so does SIGTTOU while old ones remain.
//   - With no old worker left, cur workers above the size are retired:
//     one still starting first, else the newest.
//   - Workers missing from the size (deaths, SIGTTIN) are started at
//     once, and one more while old workers remain and none is starting:
//     the SIGHUP's next replacement. Never during the back-off, never
//     once stopping.
func (p *pool) reconcile() {
	if p.group.Stopping() {
		return
	}
	for w := p.surplus(); w != nil; w = p.surplus() {
		p.retire(w)
	}
	cur, old, starting := p.count()
	if p.rolling && len(old) == 0 {
		p.rolling = false
		p.cfg.Log("SIGHUP: every worker replaced")
	}
	if p.respawn != nil {
		return
	}
	n := p.want - len(cur) - len(old)
	if len(old) > 0 && len(starting) == 0 {
		n = max(n, 1)
	}
	for range n {
		if err := p.spawn(); err != nil {
			// As a worker that dies young: the binary gone mid-upgrade, say,
			// must not be retried in a tight loop.
			p.cfg.Log("%v", err)
			p.backOff(true)
			return
		}
	}
}

// surplus is the next worker reconcile retires, or nil: the oldest old
// one while the ready ones and the old ones are more than wanted; with no
// old one left, a cur one above the size, one still starting first.
func (p *pool) surplus() *worker {
	cur, old, starting := p.count()
	switch {
	case len(old) > 0 && len(cur)-len(starting)+len(old) > p.want:
		return old[0]
	case len(old) > 0 || len(cur) <= p.want:
		return nil
	case len(starting) > 0:
		return starting[len(starting)-1]
	}
	return cur[len(cur)-1]
}

// count sorts the workers that count (not retiring), each list by id: cur
// and old by generation, and those of cur still starting (not ready).
func (p *pool) count() (cur, old, starting []*worker) {
	for _, w := range p.workers {
		switch {
		case w.retiring:
		case w.gen < p.gen:
			old = append(old, w)
		default:
			cur = append(cur, w)
			if !w.ready {
				starting = append(starting, w)
			}
		}
	}
	byID := func(a, b *worker) int { return a.id - b.id }
	slices.SortFunc(cur, byID)
	slices.SortFunc(old, byID)
	slices.SortFunc(starting, byID)
	return cur, old, starting
}

// retire asks a worker to finish what it has in flight and exit.
func (p *pool) retire(w *worker) {
	w.retiring = true
	p.cfg.Log("retiring worker %d pid=%d (generation %d)", w.id, w.child.Pid, w.gen)
	p.group.Retire(w.child, syscall.SIGTERM, p.cfg.Grace)
}

// maybeAnnounce calls Ready once as many workers are ready as the pool
// wants now (SIGTTOU may have lowered it since the start).
func (p *pool) maybeAnnounce() {
	if p.announced || p.group.Stopping() {
		return
	}
	ready := 0
	for _, w := range p.workers {
		if w.ready && !w.retiring {
			ready++
		}
	}
	if ready < p.want {
		return
	}
	p.announced = true
	if err := p.cfg.Ready(p.want); err != nil {
		p.cfg.Log("%v: stopping", err)
		p.err = err
		p.stop(syscall.SIGTERM, p.cfg.Grace)
	}
}

// reap collects ended workers and replaces those that died unasked.
func (p *pool) reap() {
	exits, err := supervise.Reap()
	if err != nil {
		p.cfg.Log("%v", err)
	}
	for _, e := range exits {
		w, ok := p.workers[e.Pid]
		p.group.Reaped(e)
		if p.successor != nil && e.Pid == p.successor.Pid {
			switch {
			case p.handedOver:
				p.cfg.Log("new master pid=%d exited %s", e.Pid, e)
			case p.group.Stopping():
				p.cfg.Log("new master pid=%d exited %s before serving: upgrade stopped", e.Pid, e)
			default:
				p.cfg.Log("new master pid=%d exited %s before serving: upgrade failed, serving on", e.Pid, e)
			}
			p.succ.Reaped(e)       // closes its pidfd, unless released at the hand-over
			_ = p.succConn.Close() // it is gone; a socket's close fails only on a bad descriptor
			p.successor, p.succConn = nil, nil
			continue
		}
		if !ok {
			p.cfg.Log("reaped pid=%d %s", e.Pid, e)
			continue
		}
		delete(p.workers, e.Pid)
		_ = w.conn.Close() // it is gone; a socket's close fails only on a bad descriptor
		p.cfg.Log("worker %d pid=%d exited %s", w.id, e.Pid, e)
		if !p.group.Stopping() && !w.retiring {
			p.backOff(w.failed || time.Since(w.started) < youngAge)
		}
	}
	p.reconcile()
}

// backOff counts a worker that died unasked: one that died young starts
// a back-off that doubles while they die young in a row, during which
// reconcile starts none; one that lived clears the count.
func (p *pool) backOff(young bool) {
	if !young {
		p.young = 0
		return
	}
	p.young++
	if p.respawn == nil {
		wait := min(FirstBackoff<<min(p.young-1, 10), MaxBackoff)
		p.cfg.Log("workers die young (%d in a row): next one in %v", p.young, wait)
		p.respawn = time.NewTimer(wait)
	}
}

// stop asks every worker to finish and exit, each within grace (zero:
// no deadline, SIGQUIT's way); past it, the group kills what is left.
//
// A successor started by SIGUSR2 that does not serve yet is stopped too,
// and waited for: the operator's stop ends the upgrade, and no new master
// comes up to serve after this one is gone. One that serves (handed
// over) is left to serve, outside the group.
func (p *pool) stop(sig syscall.Signal, grace time.Duration) {
	p.group.Stop(sig, grace)
	if p.successor != nil && !p.handedOver {
		p.cfg.Log("new master pid=%d not serving yet: stopping it too", p.successor.Pid)
		p.succ.Stop(sig, grace)
	}
}
