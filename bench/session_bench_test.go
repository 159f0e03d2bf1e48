package bench

import (
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/enlace-auth/enlace/internal/testenv"
)

// benchConnections is the number of concurrent clients, the default of
// the sessionbench command.
const benchConnections = 64

// The benchmarks send real requests over loopback to servers in this
// process. ns/op is wall time divided by requests, so it is the inverse
// of throughput at benchConnections concurrent clients. Compare
// BenchmarkSessionCheck with BenchmarkHelloWorld from the same run.

func BenchmarkHelloWorld(b *testing.B) {
	hello, err := StartHello()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := hello.Stop(); err != nil {
			b.Error(err)
		}
	})

	benchmarkGet(b, Target{Name: "hello", Addr: hello.Addr, Path: "/"})
}

func BenchmarkSessionCheck(b *testing.B) {
	b.Run("sqlite+memory", func(b *testing.B) {
		benchmarkSessionCheck(b, testenv.SQLite(b))
	})
	b.Run("postgres+redis", func(b *testing.B) {
		benchmarkSessionCheck(b, testenv.Postgres(b))
	})
}

func benchmarkSessionCheck(b *testing.B, backend testenv.Backend) {
	enlace, err := StartEnlace(backend.DB, backend.KV, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := enlace.Stop(); err != nil {
			b.Error(err)
		}
	})
	token, err := SignIn(enlace.URL)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("me", func(b *testing.B) {
		benchmarkGet(b, Target{Name: "me", Addr: enlace.Addr, Path: "/api/v1/me", SessionToken: token})
	})
	b.Run("verify", func(b *testing.B) {
		benchmarkGet(b, Target{Name: "verify", Addr: enlace.Addr, Path: "/api/v1/auth/verify", SessionToken: token})
	})
}

// benchmarkGet sends b.N requests for t from benchConnections goroutines
// and fails the benchmark if any response is not 200.
func benchmarkGet(b *testing.B, t Target) {
	client := NewClient(t.Addr, benchConnections)
	defer client.CloseIdleConnections()

	var failed atomic.Int64
	var firstError atomic.Value
	b.SetParallelism(max(1, benchConnections/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := NewRequest(t)
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)

		for pb.Next() {
			if err := Do(client, req, resp); err != nil {
				failed.Add(1)
				firstError.CompareAndSwap(nil, err.Error())
			}
			resp.Reset()
		}
	})
	b.StopTimer()

	if n := failed.Load(); n > 0 {
		b.Fatalf("%s: %d of %d requests failed, first: %s", t.Name, n, b.N, firstError.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
