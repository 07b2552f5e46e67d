package activities

// The names Temporal knows the activities by. The workers register the
// methods themselves (worker.RegisterActivity(a.FetchBatch)) and the SDK
// names each after its method, so every name here is its method's name:
// running workflows, schedules' histories and the Temporal UI use them, and
// a test in package workers checks they match. Use these where a name is
// needed as a string (a workflow's failed step, the fault-injection hooks).
const (
	FetchBatchName     = "FetchBatch"
	EnrichViaRedisName = "EnrichViaRedis"
	LoadStgName        = "LoadStg"
	LoadDdsVaultName   = "LoadDdsVault"
	EmitCountersName   = "EmitCounters"
	UpsertCdmName      = "UpsertCdm"
	CommitOffsetsName  = "CommitOffsets"
	SplitBatchName     = "SplitBatch"
	StorePoisonName    = "StorePoison"
	RetractPoisonName  = "RetractPoison"
	RecordFailureName  = "RecordFailure"
	FetchSliceName     = "FetchSlice"
	FinishSliceName    = "FinishSlice"
	RunVerifyName      = "RunVerify"
)

// Names lists every activity's name: a batch's steps in their order, then
// the safety net's, the backfill's and the daily check's.
var Names = []string{
	FetchBatchName, EnrichViaRedisName, LoadStgName, LoadDdsVaultName, EmitCountersName, UpsertCdmName, CommitOffsetsName,
	SplitBatchName, StorePoisonName, RetractPoisonName, RecordFailureName,
	FetchSliceName, FinishSliceName,
	RunVerifyName,
}
