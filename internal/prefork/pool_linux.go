package prefork

import (
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/supervise"
)

// Back-off for workers that die young.
const (
	youngAge     = time.Second            // a worker dying sooner died young
	FirstBackoff = 100 * time.Millisecond // the wait after the first young death
	MaxBackoff   = 5 * time.Second        // the longest wait before a replacement
)

// Config describes a pool.
type Config struct {
	Path     string   // the executable started as a worker (the master's own)
	Args     []string // its argv
	Workers  int      // how many to keep
	Grace    time.Duration
	Listener *os.File // the listening socket every worker inherits
	// Extra are more sockets every worker (and a successor master)
	// inherits, from fd ExtraFD on, in order: the TFTP socket, say.
	Extra  []*os.File
	Stdout *os.File
	Stderr *os.File
	Log    func(format string, args ...any)
	Ready  func() // called once, when the first Workers workers are ready
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
}

// event is a worker, or the successor master, saying it is ready.
type event struct{ pid int }

// pool is the master's state; only Run's goroutine touches it.
type pool struct {
	cfg        Config
	group      *supervise.Group
	workers    map[int]*worker
	want       int
	nextID     int
	events     chan event
	announced  bool
	stopping   bool
	young      int              // workers that died young in a row
	respawn    *time.Timer      // the back-off: no worker starts until it fires
	gen        int              // the current generation of workers
	rolling    bool             // a SIGHUP's replacement is under way
	successor  *supervise.Child // the new master started by SIGUSR2
	succConn   *supervise.Conn
	handedOver bool // the successor serves: this master drains and exits
}

// Run starts the workers and runs the pool until it is stopped, or until a
// successor master started by SIGUSR2 serves and this pool has drained:
// handedOver says which (the pidfile names the successor then, and is not
// this master's to remove). sigs must carry SIGCHLD, SIGTTIN, SIGTTOU,
// SIGHUP, SIGUSR2, SIGTERM, SIGINT and SIGQUIT.
func Run(cfg Config, sigs <-chan os.Signal) (handedOver bool, err error) {
	p := &pool{cfg: cfg, group: supervise.NewGroup(), workers: map[int]*worker{}, want: cfg.Workers, events: make(chan event, 64)}
	for i := 0; i < cfg.Workers; i++ {
		if err := p.spawn(); err != nil {
			p.stop(true)
			p.drainUntilEmpty(sigs)
			return false, err
		}
	}
	p.maybeAnnounce()
	var grace <-chan time.Time
	var respawn <-chan time.Time
	for !(p.stopping && p.group.Len() == 0) {
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
				p.cfg.Log("SIG%s: stopping, in-flight transfers get %v", supervise.SignalName(sig.(syscall.Signal)), p.cfg.Grace)
				grace = p.stop(false)
			case syscall.SIGQUIT:
				p.cfg.Log("SIGQUIT: stopping once in-flight transfers are done")
				p.stop(true)
			}
		case ev := <-p.events:
			p.event(ev)
		case <-respawn:
			p.respawn, respawn = nil, nil
			p.reconcile()
		case <-grace:
			p.cfg.Log("grace over: killing %d workers", p.group.Len())
			p.group.Kill()
		}
	}
	return p.handedOver, nil
}

// drainUntilEmpty reaps until every worker started is gone.
func (p *pool) drainUntilEmpty(sigs <-chan os.Signal) {
	for p.group.Len() > 0 {
		if <-sigs == syscall.SIGCHLD {
			p.reap()
		}
	}
}

func (p *pool) spawn() error {
	conn, childEnd, err := supervise.NewPair()
	if err != nil {
		return err
	}
	p.nextID++
	id := p.nextID
	child, err := supervise.Start(supervise.Spec{
		Name:  "worker",
		Path:  p.cfg.Path,
		Args:  p.cfg.Args,
		Files: append([]*os.File{os.Stdin, p.cfg.Stdout, p.cfg.Stderr, p.cfg.Listener, childEnd}, p.cfg.Extra...),
	})
	childEnd.Close()
	if err != nil {
		conn.Close()
		return err
	}
	p.group.Add(child)
	p.workers[child.Pid] = &worker{id: id, child: child, conn: conn, gen: p.gen, started: time.Now()}
	go watch(child.Pid, conn, p.events)
	return nil
}

// watch tells the loop when a worker says it is ready. It ends when the
// worker's end closes (its death is learnt from SIGCHLD, not from here).
func watch(pid int, conn *supervise.Conn, events chan<- event) {
	buf := make([]byte, 64)
	for {
		n, fds, err := conn.Recv(buf)
		supervise.CloseFds(fds)
		if err != nil {
			return
		}
		if string(buf[:n]) == readyMsg {
			events <- event{pid: pid}
		}
	}
}

func (p *pool) event(ev event) {
	if p.successor != nil && ev.pid == p.successor.Pid {
		if !p.stopping {
			p.handedOver = true
			p.cfg.Log("new master pid=%d serves: draining and exiting", ev.pid)
			p.stop(true)
		}
		return
	}
	w, ok := p.workers[ev.pid]
	if !ok || w.ready {
		return
	}
	w.ready = true
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
	case p.successor != nil || p.stopping:
		p.cfg.Log("SIGUSR2: an upgrade or a stop is under way already")
		return
	}
	conn, childEnd, err := supervise.NewPair()
	if err != nil {
		p.cfg.Log("SIGUSR2: %v", err)
		return
	}
	child, err := supervise.Start(supervise.Spec{
		Name:    "new master",
		Path:    p.cfg.Path,
		Args:    p.cfg.MasterArgs,
		Env:     append(os.Environ(), UpgradeEnv+"=1"),
		Files:   append([]*os.File{os.Stdin, p.cfg.Stdout, p.cfg.Stderr, p.cfg.Listener, childEnd}, p.cfg.Extra...),
		Outlive: true, // it takes over: it must not die with this master
	})
	childEnd.Close()
	if err != nil {
		conn.Close()
		p.cfg.Log("SIGUSR2: start the new master: %v", err)
		return
	}
	// Not in the group: a stop must not reach it. Reap still reports it.
	p.successor, p.succConn = child, conn
	p.cfg.Log("SIGUSR2: new master pid=%d starting from %s", child.Pid, p.cfg.Path)
	go watch(child.Pid, conn, p.events)
}

// restart replaces every worker, one at a time (SIGHUP): the workers of
// now are the old generation, and reconcile starts new ones and retires
// old ones as the new ones accept.
func (p *pool) restart() {
	if p.stopping {
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
	name := "SIG" + supervise.SignalName(sig)
	switch {
	case p.stopping:
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
	p.cfg.Log("%s: %d workers", name, p.want)
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
	if p.stopping {
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
			p.cfg.Log("%v", err)
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
	w.child.Signal(syscall.SIGTERM)
}

func (p *pool) maybeAnnounce() {
	if p.announced {
		return
	}
	ready := 0
	for _, w := range p.workers {
		if w.ready {
			ready++
		}
	}
	if ready >= p.cfg.Workers {
		p.announced = true
		p.cfg.Ready()
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
			p.cfg.Log("new master pid=%d exited %s before serving: upgrade failed, serving on", e.Pid, e)
			p.successor.Close()
			p.succConn.Close()
			p.successor, p.succConn = nil, nil
			continue
		}
		if !ok {
			p.cfg.Log("reaped pid=%d %s", e.Pid, e)
			continue
		}
		delete(p.workers, e.Pid)
		w.conn.Close()
		p.cfg.Log("worker %d pid=%d exited %s", w.id, e.Pid, e)
		if !p.stopping && !w.retiring {
			p.backOff(time.Since(w.started) < youngAge)
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

// stop asks every worker to finish and exit. Without a deadline (SIGQUIT)
// they take the time they need; else the returned channel fires after the
// grace time, and the loop kills what is left.
func (p *pool) stop(noDeadline bool) <-chan time.Time {
	p.stopping = true
	if noDeadline {
		for _, c := range p.group.Children() {
			c.Signal(syscall.SIGTERM)
		}
		return nil
	}
	return p.group.Stop(syscall.SIGTERM, p.cfg.Grace)
}
