// A drawing canvas for digit studio: white ink on black, drawn with pointer events (mouse, pen and touch
// alike), with no toolbar and no mode. It sends Python every stroke's points in canvas pixels; Python
// draws them as the model's input and owns Undo and Clear, which come back as `data.strokes`. Each stroke
// is numbered, so that one drawn while an Undo or Clear is on its way survives it.
const boards = new WeakMap();

function setUp(parentElement) {
  const canvas = document.createElement("canvas");
  canvas.className = "ink";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Drawing canvas: draw with the mouse, a pen or a finger");
  parentElement.appendChild(canvas);
  const board = {
    canvas, context: canvas.getContext("2d"), strokes: [], epoch: null, current: null, box: null, width: 18,
    count: 0,
  };

  // Measured from where the canvas was when the pen went down: should the page move the canvas during a
  // stroke (a widget above it loading late), the stroke keeps the shape the hand drew.
  const point = (event, box) => {
    const scale = canvas.width / box.width; // the canvas may be shown narrower than its pixels on a phone
    const round = (value) => Math.round(value * 10) / 10;
    return [round((event.clientX - box.left) * scale), round((event.clientY - box.top) * scale)];
  };

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 && event.pointerType === "mouse") return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    board.count += 1;
    board.box = canvas.getBoundingClientRect();
    const points = [point(event, board.box)];
    board.current = { pointer: event.pointerId, n: board.count, width: board.width, points };
    board.strokes.push(board.current);
    draw(board);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!board.current || board.current.pointer !== event.pointerId) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) board.current.points.push(point(each, board.box));
    draw(board);
  });
  const finish = (event) => {
    if (!board.current || board.current.pointer !== event.pointerId) return;
    delete board.current.pointer;
    board.current = null;
    sendFinished(board);
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  // A finger's stroke is no gesture for the browser either: Chromium takes a quick one for a fling, and then
  // swallows the next tap, on Undo or Clear, for up to half a second as the one that stops it.
  for (const type of ["touchstart", "touchmove", "touchend"]) {
    canvas.addEventListener(type, (event) => event.preventDefault(), { passive: false });
  }
  boards.set(parentElement, board);
  return board;
}

function sendFinished(board) {
  board.send({ epoch: board.epoch, strokes: board.strokes.filter((stroke) => stroke !== board.current) });
}

function draw(board) {
  const { canvas, context } = board;
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "#fff";
  context.fillStyle = "#fff";
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const stroke of board.strokes) {
    const [first, ...rest] = stroke.points;
    context.lineWidth = stroke.width;
    if (!rest.length) {
      context.beginPath();
      context.arc(first[0], first[1], stroke.width / 2, 0, 2 * Math.PI);
      context.fill();
      continue;
    }
    context.beginPath();
    context.moveTo(first[0], first[1]);
    for (const [x, y] of rest) context.lineTo(x, y);
    context.stroke();
  }
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const board = boards.get(parentElement) || setUp(parentElement);
  board.send = (drawing) => setStateValue("drawing", drawing);
  board.width = data.brush;
  const { canvas } = board;
  if (canvas.width !== data.width || canvas.height !== data.height) {
    canvas.width = data.width;
    canvas.height = data.height;
    canvas.style.aspectRatio = `${data.width} / ${data.height}`;
  }
  canvas.style.maxWidth = `${data.width}px`;
  // A new epoch is Python's own edit (Undo, Clear, a new canvas): its strokes replace the ones it had seen.
  // Strokes drawn since, even one still under the pen, stay on top, and the finished ones go to Python.
  if (board.epoch !== data.epoch) {
    board.epoch = data.epoch;
    const since = board.strokes.filter((stroke) => stroke.n > data.seen);
    board.strokes = [...data.strokes.map((stroke) => ({ ...stroke })), ...since];
    board.count = Math.max(board.count, data.seen, ...board.strokes.map((stroke) => stroke.n || 0));
    if (since.some((stroke) => stroke !== board.current)) sendFinished(board);
  }
  draw(board);
}
