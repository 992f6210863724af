// Node-API surface of the fast path (flow-napi.cc).
#pragma once

#include <node_api.h>

namespace peertap {

class FlowCache;

// Adds the fast path's functions to `exports`: the cell arena and the core
// functions one by one (flowCells, flowCounterTake, flowWindow,
// flowRaceStart, flowRaceJoin, flowSealPayload, flowOpenPayload,
// flowSealData, flowOpenData), and the flow cache (flowCacheNew, ...).
bool RegisterFlow(napi_env env, napi_value exports);

// The flow cache behind a handle from flowCacheNew, or nullptr (with a
// TypeError thrown) for anything else.
FlowCache* GetFlowCache(napi_env env, napi_value v);

}  // namespace peertap
