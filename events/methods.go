package events

// Name returns "logmesh.events.FileLanded".
func (e *FileLanded) Name() string { return NameFileLanded }

// Meta returns the event's envelope.
func (e *FileLanded) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.BatchPlanned".
func (e *BatchPlanned) Name() string { return NameBatchPlanned }

// Meta returns the event's envelope.
func (e *BatchPlanned) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.RecordRejected".
func (e *RecordRejected) Name() string { return NameRecordRejected }

// Meta returns the event's envelope.
func (e *RecordRejected) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.FileProcessed".
func (e *FileProcessed) Name() string { return NameFileProcessed }

// Meta returns the event's envelope.
func (e *FileProcessed) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.FileFailed".
func (e *FileFailed) Name() string { return NameFileFailed }

// Meta returns the event's envelope.
func (e *FileFailed) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.TableCommitted".
func (e *TableCommitted) Name() string { return NameTableCommitted }

// Meta returns the event's envelope.
func (e *TableCommitted) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.ProductRefreshed".
func (e *ProductRefreshed) Name() string { return NameProductRefreshed }

// Meta returns the event's envelope.
func (e *ProductRefreshed) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.ProductPublished".
func (e *ProductPublished) Name() string { return NameProductPublished }

// Meta returns the event's envelope.
func (e *ProductPublished) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.ProductRetired".
func (e *ProductRetired) Name() string { return NameProductRetired }

// Meta returns the event's envelope.
func (e *ProductRetired) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.ShareGranted".
func (e *ShareGranted) Name() string { return NameShareGranted }

// Meta returns the event's envelope.
func (e *ShareGranted) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.ShareRevoked".
func (e *ShareRevoked) Name() string { return NameShareRevoked }

// Meta returns the event's envelope.
func (e *ShareRevoked) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.JobStarted".
func (e *JobStarted) Name() string { return NameJobStarted }

// Meta returns the event's envelope.
func (e *JobStarted) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.JobFinished".
func (e *JobFinished) Name() string { return NameJobFinished }

// Meta returns the event's envelope.
func (e *JobFinished) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.IncidentOpened".
func (e *IncidentOpened) Name() string { return NameIncidentOpened }

// Meta returns the event's envelope.
func (e *IncidentOpened) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.IncidentResolved".
func (e *IncidentResolved) Name() string { return NameIncidentResolved }

// Meta returns the event's envelope.
func (e *IncidentResolved) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.SchemaChanged".
func (e *SchemaChanged) Name() string { return NameSchemaChanged }

// Meta returns the event's envelope.
func (e *SchemaChanged) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.DomainDefined".
func (e *DomainDefined) Name() string { return NameDomainDefined }

// Meta returns the event's envelope.
func (e *DomainDefined) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.FeedDefined".
func (e *FeedDefined) Name() string { return NameFeedDefined }

// Meta returns the event's envelope.
func (e *FeedDefined) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.LocationsDefined".
func (e *LocationsDefined) Name() string { return NameLocationsDefined }

// Meta returns the event's envelope.
func (e *LocationsDefined) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.SubscriptionDefined".
func (e *SubscriptionDefined) Name() string { return NameSubscriptionDefined }

// Meta returns the event's envelope.
func (e *SubscriptionDefined) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.SubscriptionRemoved".
func (e *SubscriptionRemoved) Name() string { return NameSubscriptionRemoved }

// Meta returns the event's envelope.
func (e *SubscriptionRemoved) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.RouteRefused".
func (e *RouteRefused) Name() string { return NameRouteRefused }

// Meta returns the event's envelope.
func (e *RouteRefused) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.RunRequested".
func (e *RunRequested) Name() string { return NameRunRequested }

// Meta returns the event's envelope.
func (e *RunRequested) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.AccessDenied".
func (e *AccessDenied) Name() string { return NameAccessDenied }

// Meta returns the event's envelope.
func (e *AccessDenied) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.FeedRetired".
func (e *FeedRetired) Name() string { return NameFeedRetired }

// Meta returns the event's envelope.
func (e *FeedRetired) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.DomainRetired".
func (e *DomainRetired) Name() string { return NameDomainRetired }

// Meta returns the event's envelope.
func (e *DomainRetired) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.FileRetryRequested".
func (e *FileRetryRequested) Name() string { return NameFileRetryRequested }

// Meta returns the event's envelope.
func (e *FileRetryRequested) Meta() *Envelope { return &e.Envelope }

// Name returns "logmesh.events.InstallationDefined".
func (e *InstallationDefined) Name() string { return NameInstallationDefined }

// Meta returns the event's envelope.
func (e *InstallationDefined) Meta() *Envelope { return &e.Envelope }
