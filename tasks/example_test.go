package tasks_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// A billing system cancels a SiteLock licence at the end of its term.
func ExampleNewLicenceTask() {
	task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{
		OrderNumber: 123456,
		Product:     1061, // SiteLock Pro
		Action:      provider.ActionCancelLicence,
		CancelType:  provider.CancelOnExpiration,
	})
	if err != nil {
		log.Fatal(err) // names the field and the rule, e.g. "cancelType: only for SiteLock products, ..."
	}
	fmt.Println(task.Type())
	fmt.Println(string(task.Payload()))
	// Then: tasks.OpenEnqueuer(redisURL) and its Enqueue(ctx, task, opts...), which reports a
	// duplicate in any queue (a plain *asynq.Client checks only the task's own queue, so the
	// provider could be called twice).
	_ = opts
	// Output:
	// licence:modify
	// {"account":"default","orderNumber":123456,"product":1061,"action":"CANCELLICENCE","cancelType":"ON EXPIRATION"}
}

// A billing system books a verification call, with its own idempotency key so that retrying
// its own request never books twice.
func ExampleNewOVCallbackTask() {
	_, opts, err := tasks.NewOVCallbackTask(tasks.OVCallbackPayload{
		Account:          "eu", // the worker holds this account's login
		OrderNumber:      "1234567",
		Action:           provider.ActionScheduledCallback,
		PreferredTimeUTC: "2024-02-02 13:03",
	}, tasks.Key("booking-8812"))
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			fmt.Println(o.Value())
		}
	}
	// Output: ovcallback:update:booking-8812
}

// Validation errors name the field and the rule.
func ExampleOVCallbackPayload_Validate() {
	err := tasks.OVCallbackPayload{OrderNumber: "1234567", Action: provider.ActionReplacePhone}.Validate()
	fmt.Println(err)
	// Output: phoneNumber: required
}

// Enqueueing the same content twice is reported as a duplicate, not an error, even when the
// first is in another queue.
func ExampleEnqueuer_Enqueue() {
	enqueuer, err := tasks.OpenEnqueuer("redis://127.0.0.1:6379/0") // the workers' REDIS_URL
	if err != nil {
		log.Fatal(err)
	}
	defer enqueuer.Close()

	task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: 42, Product: 700, Action: provider.ActionCancelLicence})
	if err != nil {
		log.Fatal(err)
	}
	res, err := enqueuer.Enqueue(context.Background(), task, opts...)
	if err != nil {
		log.Fatal(err)
	}
	if res.Duplicate {
		fmt.Println("already queued:", res.ID, res.State)
	}
}
