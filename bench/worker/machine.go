package main

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strings"
	"time"
)

// printMachine prints what the figures depend on: CPU, memory, kernel, Go, Redis.
func (b *bench) printMachine(ctx context.Context) {
	info, _ := b.db.rdb.Info(ctx, "server", "persistence").Result()
	aof, _ := b.db.rdb.ConfigGet(ctx, "appendfsync").Result()
	b.printf("# ovqueue worker benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.printf("| | |\n|---|---|\n")
	b.printf("| CPU | %s, %d logical CPUs |\n", procField("/proc/cpuinfo", "model name"), runtime.NumCPU())
	b.printf("| memory | %s |\n", procField("/proc/meminfo", "MemTotal"))
	b.printf("| kernel | %s %s |\n", runtime.GOOS, strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	b.printf("| Go | %s %s/%s |\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	b.printf("| Redis | %s on %s, database %d; appendonly %s, appendfsync %s |\n", field(info, "redis_version"),
		b.db.opt.Addr, b.db.opt.DB, onOff(field(info, "aof_enabled")), aof["appendfsync"])
	b.printf("| command | `go run ./bench/worker %s` |\n", strings.Join(os.Args[1:], " "))
}

// field returns the value of key in a Redis INFO answer.
func field(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return "?"
}

func onOff(v string) string {
	if v == "1" {
		return "yes"
	}
	return "no"
}

// procField returns the first value of key in a "key : value" file of /proc.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return string(b)
}
