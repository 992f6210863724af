/**
 * The output of one `ForwardingTable.route` call: for each neighbour that
 * gets frames, the indices (into the input batch) of the frames to send it,
 * in input order. The caller owns a RouteBatch and passes it to every call;
 * its arrays grow to the largest batch seen and are then reused, so routing
 * allocates nothing per frame or per batch in steady state.
 *
 * Read it right after `route` returns; the next `route` with the same
 * RouteBatch overwrites it. Two batches in flight need two RouteBatches.
 */

/** The frames one batch sends to one neighbour. */
export class NeighbourOutput {
  /** The neighbour's id (its PeerId string), as given to the table. */
  neighbour = ''
  /** How many entries of `frames` are valid. */
  count = 0
  /** Indices into the routed batch, ascending; only the first `count` are valid. */
  frames: Int32Array = new Int32Array(16)
  /** The table's number for the neighbour (internal). */
  index = -1
}

export class RouteBatch {
  /** How many entries of `outputs` are valid: the neighbours this batch reaches. */
  length = 0
  /** Per-neighbour outputs; only the first `length` are valid, in order of first use. */
  readonly outputs: NeighbourOutput[] = []
  /** Frames of this batch sent to at least one neighbour. */
  forwarded = 0
  /** Copies this batch sends: the sum of all `outputs[i].count`. */
  copies = 0
  /** Frames of this batch dropped (the table's counters say why). */
  dropped = 0
  #slotOf = new Int32Array(16)
  #stampOf = new Uint32Array(16)
  #stamp = 0

  /** Starts a new batch (for the table). */
  begin(): void {
    this.length = 0
    this.forwarded = 0
    this.copies = 0
    this.dropped = 0
    if (this.#stamp === 0xffff_ffff) {
      this.#stampOf.fill(0)
      this.#stamp = 0
    }
    this.#stamp++
  }

  /** Appends frame `frame` to the output of neighbour number `index` (for the table). */
  push(index: number, neighbour: string, frame: number): void {
    if (index >= this.#stampOf.length) this.#growIndex(index)
    let output: NeighbourOutput
    if (this.#stampOf[index] === this.#stamp) {
      output = this.outputs[this.#slotOf[index]!]!
    } else {
      const slot = this.length++
      if (slot === this.outputs.length) this.outputs.push(new NeighbourOutput())
      output = this.outputs[slot]!
      output.neighbour = neighbour
      output.index = index
      output.count = 0
      this.#stampOf[index] = this.#stamp
      this.#slotOf[index] = slot
    }
    if (output.count === output.frames.length) {
      const frames = new Int32Array(output.frames.length * 2)
      frames.set(output.frames)
      output.frames = frames
    }
    output.frames[output.count++] = frame
  }

  /**
   * Takes frame `frame` back from every output (for the table, when a later
   * check drops a frame it had already fanned out). `length` is what
   * `length` was before the frame was fanned out: outputs made for it go.
   */
  retract(frame: number, length: number): void {
    for (let slot = 0; slot < this.length; slot++) {
      const output = this.outputs[slot]!
      if (output.count > 0 && output.frames[output.count - 1] === frame) output.count--
    }
    for (let slot = length; slot < this.length; slot++) {
      this.#stampOf[this.outputs[slot]!.index] = 0
    }
    this.length = length
  }

  #growIndex(index: number): void {
    let size = this.#stampOf.length * 2
    while (size <= index) size *= 2
    const slotOf = new Int32Array(size)
    slotOf.set(this.#slotOf)
    const stampOf = new Uint32Array(size)
    stampOf.set(this.#stampOf)
    this.#slotOf = slotOf
    this.#stampOf = stampOf
  }
}
