package config

import (
	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/redisurl"
)

// parseRedisURL checks REDIS_URL and turns it into asynq's connection options, as every part
// of ovqueue reads it (redisurl). Errors show the URL with its password replaced by "xxxxx".
func parseRedisURL(raw string) (opt asynq.RedisConnOpt, warning string, err error) {
	opt, warning, err = redisurl.Parse(raw)
	if err != nil {
		return nil, "", failf(setRedisURL, "%s", err)
	}
	if warning != "" {
		warning = setRedisURL.name() + ": " + warning
	}
	return opt, warning, nil
}
