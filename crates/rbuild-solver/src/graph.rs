//! The build graph: vertices holding ops, edges to their inputs.

use std::fmt;

use crate::error::SolveError;
use crate::op::Op;

/// Index of a vertex in its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VertexId(pub usize);

impl fmt::Display for VertexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One vertex: an op and the vertices whose values it consumes, in order.
struct Vertex<O> {
    op: O,
    inputs: Vec<VertexId>,
}

/// A graph of ops. Every stage of a build lives in one graph; a solve touches only what its
/// targets need.
pub struct Graph<O: Op> {
    vertices: Vec<Vertex<O>>,
}

impl<O: Op> Default for Graph<O> {
    fn default() -> Self {
        Graph {
            vertices: Vec::new(),
        }
    }
}

impl<O: Op> Graph<O> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a vertex; `inputs` are checked (existence, no cycles) when solving.
    pub fn add(&mut self, op: O, inputs: Vec<VertexId>) -> VertexId {
        self.vertices.push(Vertex { op, inputs });
        VertexId(self.vertices.len() - 1)
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.vertices.len()
    }

    /// Whether the graph has no vertex.
    pub fn is_empty(&self) -> bool {
        self.vertices.is_empty()
    }

    /// The op of a vertex.
    pub fn op(&self, id: VertexId) -> Option<&O> {
        self.vertices.get(id.0).map(|v| &v.op)
    }

    /// The inputs of a vertex.
    pub fn inputs(&self, id: VertexId) -> Option<&[VertexId]> {
        self.vertices.get(id.0).map(|v| v.inputs.as_slice())
    }

    /// The vertices reachable from `targets`, inputs before the vertices using them.
    pub fn topo_order<E>(&self, targets: &[VertexId]) -> Result<Vec<VertexId>, SolveError<E>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Closed,
        }
        let mut marks = vec![Mark::New; self.vertices.len()];
        let mut order = Vec::new();
        // Iterative DFS so a very deep graph cannot overflow the stack.
        for &target in targets {
            let mut stack: Vec<(VertexId, usize)> = vec![(target, 0)];
            while let Some(&mut (id, ref mut next)) = stack.last_mut() {
                let inputs = self.inputs(id).ok_or(SolveError::UnknownVertex(id))?;
                if *next == 0 {
                    match marks[id.0] {
                        Mark::Closed => {
                            stack.pop();
                            continue;
                        }
                        Mark::Open => return Err(SolveError::Cycle),
                        Mark::New => marks[id.0] = Mark::Open,
                    }
                }
                if let Some(&input) = inputs.get(*next) {
                    *next += 1;
                    self.inputs(input).ok_or(SolveError::UnknownVertex(input))?;
                    match marks[input.0] {
                        Mark::Open => return Err(SolveError::Cycle),
                        Mark::Closed => {}
                        Mark::New => stack.push((input, 0)),
                    }
                } else {
                    marks[id.0] = Mark::Closed;
                    order.push(id);
                    stack.pop();
                }
            }
        }
        Ok(order)
    }
}
