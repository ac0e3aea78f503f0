BEGIN TRANSACTION;
CREATE TABLE approval (
	execution_id INTEGER NOT NULL, 
	step_id VARCHAR(200) NOT NULL, 
	workflow_name VARCHAR(200) NOT NULL, 
	prompt VARCHAR NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason VARCHAR, 
	decided_by VARCHAR(200), 
	requested_at DATETIME NOT NULL, 
	decided_at DATETIME, 
	PRIMARY KEY (execution_id, step_id), 
	FOREIGN KEY(execution_id) REFERENCES execution (id) ON DELETE CASCADE
);
CREATE TABLE execution (
	workflow_id INTEGER NOT NULL, 
	workflow_name VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	params JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	"trigger" VARCHAR(32) NOT NULL, 
	cancel_requested BOOLEAN NOT NULL, 
	worker VARCHAR(100), 
	queued_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	duration_ms FLOAT, 
	error VARCHAR, 
	id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(workflow_id) REFERENCES workflow (id) ON DELETE CASCADE
);
INSERT INTO "execution" VALUES(1,'flaky-retry',1,'{"succeed_on": 3, "state_dir": "/tmp/wfe-examples/flaky"}','succeeded','manual',0,'run:vm:4982:f74d55','2026-11-27 09:51:39.105166','2026-11-27 09:51:39.109630','2026-11-27 09:51:39.758864',6.49237453995738178491e+02,NULL,1);
CREATE TABLE lease (
	name VARCHAR(64) NOT NULL, 
	holder VARCHAR(100) NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE log_line (
	id INTEGER NOT NULL, 
	execution_id INTEGER NOT NULL, 
	step_id VARCHAR(200), 
	seq INTEGER NOT NULL, 
	time DATETIME NOT NULL, 
	stream VARCHAR(8) NOT NULL, 
	text VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(execution_id) REFERENCES execution (id) ON DELETE CASCADE
);
INSERT INTO "log_line" VALUES(1,1,'flaky',1,'2026-11-27 09:51:39.121413','stderr','attempt 1: upstream not ready yet');
INSERT INTO "log_line" VALUES(2,1,'flaky',2,'2026-11-27 09:51:39.121947','system','attempt 1 failed: exited with code 1: attempt 1: upstream not ready yet');
INSERT INTO "log_line" VALUES(3,1,'flaky',3,'2026-11-27 09:51:39.121972','system','attempt 2 of 4 in 200ms');
INSERT INTO "log_line" VALUES(4,1,'flaky',4,'2026-11-27 09:51:39.335891','stderr','attempt 2: upstream not ready yet');
INSERT INTO "log_line" VALUES(5,1,'flaky',5,'2026-11-27 09:51:39.336278','system','attempt 2 failed: exited with code 1: attempt 2: upstream not ready yet');
INSERT INTO "log_line" VALUES(6,1,'flaky',6,'2026-11-27 09:51:39.336298','system','attempt 3 of 4 in 400ms');
INSERT INTO "log_line" VALUES(7,1,'flaky',7,'2026-11-27 09:51:39.754227','stdout','attempt 3: ok');
INSERT INTO "log_line" VALUES(8,1,'report',8,'2026-11-27 09:51:39.754822','log','attempt 3: ok');
CREATE TABLE step_run (
	id INTEGER NOT NULL, 
	execution_id INTEGER NOT NULL, 
	step_id VARCHAR(200) NOT NULL, 
	position INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempt INTEGER NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	duration_ms FLOAT, 
	exit_code INTEGER, 
	output JSON, 
	error VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(execution_id) REFERENCES execution (id) ON DELETE CASCADE
);
INSERT INTO "step_run" VALUES(1,1,'flaky',0,'failed',1,'2026-11-27 09:51:39.110034','2026-11-27 09:51:39.121914',1.1877219993039034307e+01,1,NULL,'exited with code 1: attempt 1: upstream not ready yet');
INSERT INTO "step_run" VALUES(2,1,'flaky',0,'failed',2,'2026-11-27 09:51:39.324731','2026-11-27 09:51:39.336249',1.15225790068507194519e+01,1,NULL,'exited with code 1: attempt 2: upstream not ready yet');
INSERT INTO "step_run" VALUES(3,1,'flaky',0,'succeeded',3,'2026-11-27 09:51:39.742159','2026-11-27 09:51:39.754711',1.25564100017072632908e+01,0,'"attempt 3: ok"',NULL);
INSERT INTO "step_run" VALUES(4,1,'report',1,'succeeded',1,'2026-11-27 09:51:39.754770','2026-11-27 09:51:39.754830',5.90380077483132481575e-02,NULL,'"attempt 3: ok"',NULL);
INSERT INTO "step_run" VALUES(5,1,'tidy',2,'succeeded',1,'2026-11-27 09:51:39.754856','2026-11-27 09:51:39.758739',3.8744570047128945589e+00,0,'""',NULL);
CREATE TABLE wfe_meta (
	"key" VARCHAR(64) NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "wfe_meta" VALUES('schema_version','1');
CREATE TABLE worker (
	id VARCHAR(100) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	host VARCHAR(200) NOT NULL, 
	pid INTEGER NOT NULL, 
	concurrency INTEGER NOT NULL, 
	started_at DATETIME NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	stopped_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "worker" VALUES('run:vm:4982:f74d55','run','vm',4982,1,'2026-11-27 09:51:39.028729','2026-11-27 09:51:39.767905','2026-11-27 09:51:39.767905');
CREATE TABLE workflow (
	name VARCHAR(200) NOT NULL, 
	description VARCHAR NOT NULL, 
	definition VARCHAR NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	schedule VARCHAR, 
	source_path VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	last_execution_id INTEGER, 
	runs INTEGER NOT NULL, 
	succeeded INTEGER NOT NULL, 
	last_scheduled_at DATETIME, 
	id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO "workflow" VALUES('flaky-retry','A step that fails twice, then succeeds on its third attempt','name: flaky-retry
description: A step that fails twice, then succeeds on its third attempt
params:
  succeed_on: 3
  state_dir: /tmp/wfe-examples/flaky
steps:
  - id: flaky
    run: |
      mkdir -p "${{ params.state_dir }}"
      counter="${{ params.state_dir }}/attempts-${{ execution.id }}"
      n=$(( $(cat "$counter" 2>/dev/null || echo 0) + 1 ))
      echo "$n" > "$counter"
      if [ "$n" -lt ${{ params.succeed_on }} ]; then
        echo "attempt $n: upstream not ready yet" >&2
        exit 1
      fi
      echo "attempt $n: ok"
    retry: {attempts: 4, delay: 200ms, backoff: 2, max_delay: 1s}
  - id: report
    log: "${{ steps.flaky.output }}"
  - id: tidy
    run: rm -f "${{ params.state_dir }}/attempts-${{ execution.id }}"
','bdee8d817497bae4e520a1d33023c32bed2cdee823df02c1cf71a4c33d6798c8',1,1,NULL,'/work/main/examples/flaky-retry.yaml','2026-11-27 09:51:38.102550','2026-11-27 09:51:38.102574',1,1,1,NULL,1);
CREATE INDEX ix_workflow_is_active ON workflow (is_active);
CREATE INDEX ix_workflow_updated_at ON workflow (updated_at);
CREATE INDEX ix_execution_workflow_status ON execution (workflow_id, status);
CREATE INDEX ix_execution_status ON execution (status);
CREATE INDEX ix_execution_started_at ON execution (started_at);
CREATE UNIQUE INDEX ux_step_run_key ON step_run (execution_id, step_id, attempt);
CREATE INDEX ix_log_line_execution_seq ON log_line (execution_id, seq);
COMMIT;
